/**
 * Static files for Deno on Hono's runtime-neutral `serveStatic`
 * (`hono/serve-static`). `hono/deno` has the same middleware, but it is
 * deprecated in favour of a JSR-only package, and loading it pulls in
 * `node:path` and Node compatibility: about 8 ms of every cold start.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { serveStatic as serveWith } from "hono/serve-static";
import { isDescriptorExhaustion } from "../os_errors.ts";

/** Options for {@link serveStaticFiles}. */
export interface StaticFilesOptions {
  /** Folder served at `/`; paths that leave it are refused by Hono. */
  root: string;
  /**
   * The answer when a file may be there but no descriptor is free to open
   * it (EMFILE, ENFILE): a 503 to retry, not a 404 a cache may keep.
   */
  unavailable: (c: Context) => Response;
}

/**
 * Serves files (and each folder's `index.html`) from `root`: a file that
 * cannot be opened for want of descriptors gets `options.unavailable`;
 * any other failure to open is left to the next handler (a 404), as a
 * path that names no file is. A stranger picks the path: `GET /%00`
 * (a NUL byte Deno refuses to open) answered 500 with a 790-byte stack
 * in the log for each request when other failures were thrown
 * (stranger23, 8b24bff).
 */
export function serveStaticFiles(
  options: StaticFilesOptions,
): MiddlewareHandler {
  return serveWith({
    root: options.root,
    async getContent(path, c) {
      try {
        return (await Deno.open(path)).readable;
      } catch (error) {
        // open() takes a descriptor before it looks the path up, so a
        // missing file fails the same way; lstat takes none.
        if (isDescriptorExhaustion(error)) {
          return isThere(path) ? options.unavailable(c) : null;
        }
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

/** Whether `path` names something (no descriptor needed to tell). */
function isThere(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (error) {
    return !namesNoFile(error);
  }
}

/**
 * Missing, a path through a file (`/index.html/x`: ENOTDIR), or a name too
 * long to be one (a path segment over 255 bytes: ENAMETOOLONG, `os error
 * 36`, a plain `Error` in Deno).
 */
function namesNoFile(error: unknown): boolean {
  return error instanceof Deno.errors.NotFound ||
    error instanceof Deno.errors.NotADirectory ||
    /\(os error 36\)/.test(String(error));
}
