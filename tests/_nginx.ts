/**
 * A real nginx (Debian's nginx-light, `/usr/sbin/nginx`) in front of a test
 * server, run from a temporary prefix on a free loopback port with the site
 * configuration we ship, `deploy/nginx.conf`, changed only where a test must:
 * where it listens, where the service is, and a shorter header timeout.
 *
 * @module
 */
import { ROOT } from "./_server.ts";
import { withDeadline } from "./_client.ts";
import { freePort } from "../bench/wire.ts";
import { dieWithParent } from "../bench/parent_death.ts";

/** Where Debian puts nginx; `.ci/run` installs nginx-light when it is missing. */
export const NGINX = "/usr/sbin/nginx";

/** The shipped site configuration, as text. */
export function shippedSite(): string {
  return Deno.readTextFileSync(`${ROOT}/deploy/nginx.conf`);
}

/** Replaces `from` in `text`, which must hold it exactly once. */
function replaceOnce(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) {
    throw new TypeError(
      `Cannot derive the test configuration: expected "${from}" once in deploy/nginx.conf`,
    );
  }
  return text.slice(0, at) + to + text.slice(at + from.length);
}

/** How the test's nginx differs from the shipped one. */
export interface SiteChanges {
  /** nginx's loopback port. */
  port: number;
  /** The service's port. */
  upstreamPort: number;
  /** client_header_timeout, in seconds (the shipped file says 10). */
  headerTimeoutSeconds: number;
}

/**
 * `deploy/nginx.conf` with the test's changes: `listen 127.0.0.1:<port>`
 * (no IPv6 listener), the upstream on `upstreamPort`, and the header
 * timeout. Every other line is the shipped one.
 *
 * @throws {TypeError} If a line to change is not in the file exactly once.
 */
export function testSite(changes: SiteChanges): string {
  let site = shippedSite();
  site = replaceOnce(
    site,
    "    listen 80;\n",
    `    listen 127.0.0.1:${changes.port};\n`,
  );
  site = replaceOnce(site, "    listen [::]:80;\n", "");
  site = replaceOnce(
    site,
    "server 127.0.0.1:9998;",
    `server 127.0.0.1:${changes.upstreamPort};`,
  );
  site = replaceOnce(
    site,
    "client_header_timeout 10s;",
    `client_header_timeout ${changes.headerTimeoutSeconds}s;`,
  );
  return site;
}

/**
 * The main configuration around a site: one foreground process, every file
 * under `prefix`, the site included in `http {}` as Debian's
 * sites-enabled/ are.
 */
export function mainConfig(prefix: string, sitePath: string): string {
  return [
    "daemon off;",
    "master_process off;",
    `pid ${prefix}/nginx.pid;`,
    `error_log ${prefix}/error.log warn;`,
    "events { worker_connections 256; }",
    "http {",
    "    access_log off;",
    `    client_body_temp_path ${prefix}/body;`,
    `    proxy_temp_path ${prefix}/proxy;`,
    `    include ${sitePath};`,
    "}",
    "",
  ].join("\n");
}

/** Runs `nginx -t` on `site` inside {@link mainConfig}; returns its output. */
export async function checkSite(
  site: string,
): Promise<{ success: boolean; output: string }> {
  const prefix = await Deno.makeTempDir({ prefix: "ws-echo-nginx-t-" });
  try {
    await Deno.writeTextFile(`${prefix}/site.conf`, site);
    await Deno.writeTextFile(
      `${prefix}/nginx.conf`,
      mainConfig(prefix, `${prefix}/site.conf`),
    );
    const { success, stderr } = await new Deno.Command(NGINX, {
      args: ["-t", "-p", prefix, "-c", `${prefix}/nginx.conf`],
      stdout: "null",
      stderr: "piped",
    }).output();
    return { success, output: new TextDecoder().decode(stderr) };
  } finally {
    await Deno.remove(prefix, { recursive: true });
  }
}

/** A running nginx; `await using` stops it and removes its prefix. */
export interface RunningNginx extends AsyncDisposable {
  port: number;
  /** The site configuration it runs. */
  site: string;
}

/**
 * Starts nginx with {@link testSite} in front of `upstreamPort` and waits
 * until it accepts connections.
 *
 * @throws {Deno.errors.TimedOut} If it does not accept within 10 s (its
 * error log is in the message).
 */
export async function startNginx(
  options: Omit<SiteChanges, "port">,
): Promise<RunningNginx> {
  const prefix = await Deno.makeTempDir({ prefix: "ws-echo-nginx-" });
  const port = freePort();
  const site = testSite({ ...options, port });
  await Deno.writeTextFile(`${prefix}/site.conf`, site);
  await Deno.writeTextFile(
    `${prefix}/nginx.conf`,
    mainConfig(prefix, `${prefix}/site.conf`),
  );
  // One process (master_process off), killed with this one if it dies first.
  const [program, args] = dieWithParent(NGINX, [
    "-p",
    prefix,
    "-c",
    `${prefix}/nginx.conf`,
  ]);
  const child = new Deno.Command(program, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream())
    .getReader();
  let errors = "";
  const collecting = (async () => {
    for (let r; !(r = await stderr.read()).done;) errors += r.value;
  })();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // It has exited already.
    }
    await withDeadline(child.status, 10_000, "nginx to exit");
    await collecting;
    await Deno.remove(prefix, { recursive: true });
  };
  try {
    await withDeadline(
      (async () => {
        while (true) {
          try {
            (await Deno.connect({ hostname: "127.0.0.1", port })).close();
            return;
          } catch {
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
      })(),
      10_000,
      `nginx to accept on port ${port}`,
    );
  } catch (error) {
    const log = await Deno.readTextFile(`${prefix}/error.log`).catch(() => "");
    await stop();
    throw new Deno.errors.TimedOut(
      `${(error as Error).message}: ${errors}${log}`,
    );
  }
  return { port, site, [Symbol.asyncDispose]: stop };
}
