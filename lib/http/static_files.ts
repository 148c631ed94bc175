/**
 * Static files for Deno on Hono's runtime-neutral `serveStatic`
 * (`hono/serve-static`). `hono/deno` has the same middleware, but it is
 * deprecated in favour of a JSR-only package, and loading it pulls in
 * `node:path` and Node compatibility: about 8 ms of every cold start.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { serveStatic as serveWith } from "hono/serve-static";

/** Options for {@link serveStaticFiles}. */
export interface StaticFilesOptions {
  /** Folder served at `/`; paths that leave it are refused by Hono. */
  root: string;
}

/** Serves files (and each folder's `index.html`) from `root`. */
export function serveStaticFiles(
  options: StaticFilesOptions,
): MiddlewareHandler {
  return serveWith({
    root: options.root,
    async getContent(path) {
      try {
        return (await Deno.open(path)).readable;
      } catch {
        // Missing, or a path through a file (`/index.html/x`): a 404.
        return null;
      }
    },
    isDir(path) {
      try {
        return Deno.lstatSync(path).isDirectory;
      } catch {
        return false;
      }
    },
  });
}
