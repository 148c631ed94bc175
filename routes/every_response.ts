/**
 * What every answer but a 101 gets: the security headers (a
 * Content-Security-Policy for the page, HSTS where it is right) and one log
 * line, unless the refusal log wrote it ({@link everyResponse}); HEAD served as GET, so Deno answers it
 * ({@link headAsGet}); and 404 or 405 when no route took the request
 * ({@link notFoundOrNotAllowed}). A 101 passes unchanged: Deno's upgrade
 * response must, and a WebSocket logs its close. `app.ts` puts them around
 * the routes.
 *
 * @module
 */
import type { Context, Hono, Next } from "hono";
import { secureHeaders } from "hono/secure-headers";
import type { Config } from "../lib/config.ts";
import { clipClientText, type Log } from "../lib/log.ts";
import type { AppEnv } from "../lib/services.ts";
import { hstsValue } from "../lib/http/hsts.ts";
import { REFUSAL_LOGGED } from "../lib/admission/refuse.ts";

/**
 * The answer when no route took the request: `405 Method Not Allowed` with
 * `Allow: GET, HEAD` for a path that exists for GET (RFC 9110 §15.5.6: a
 * `PUT /sse` is not a missing resource), `404` with the path otherwise.
 */
export function notFoundOrNotAllowed(
  app: Hono<AppEnv>,
): (c: Context<AppEnv>) => Response {
  const getPaths = new Set(
    app.routes.filter((route) =>
      route.method === "GET" && !route.path.includes("*")
    ).map((route) => route.path),
  );
  return function notFound(c) {
    const { method, path } = c.req;
    if (method !== "GET" && method !== "HEAD" && getPaths.has(path)) {
      return c.text(
        `Method ${method} not allowed on ${path}: use GET\n`,
        405,
        { Allow: "GET, HEAD" },
      );
    }
    // The path is the client's own text: cut as in the log (MAX_CLIENT_TEXT).
    const { path: shown } = clipClientText({ event: "http", path });
    return c.text(`Not found: ${shown}\n`, 404);
  };
}

/**
 * Deno answers a HEAD request from a GET response itself: the same headers
 * (Content-Length included), no body, and a stream it cancels, which ends an
 * `/sse` stream and frees its slot. Hono's own HEAD handling empties the body
 * first (Content-Length: 0) and never cancels the stream, so HEAD is served
 * as GET here. A HEAD cannot upgrade, so its `Upgrade` header is dropped.
 */
export function headAsGet(request: Request): Request {
  if (request.method !== "HEAD") return request;
  const get = new Request(request, { method: "GET" });
  get.headers.delete("upgrade");
  servedForHead.add(get);
  return get;
}

/** The GETs made from HEAD requests, so their log line still says HEAD. */
const servedForHead = new WeakSet<Request>();

/** The page's Content-Security-Policy and the other security headers. */
function securityHeaders() {
  return secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      connectSrc: ["'self'", "ws:", "wss:"],
      imgSrc: ["'self'", "data:"],
      objectSrc: ["'none'"],
      baseUri: ["'none'"],
      frameAncestors: ["'none'"],
      formAction: ["'none'"],
    },
    referrerPolicy: "no-referrer",
    // Sent by `hsts.ts` only where it is right: https, not this machine.
    strictTransportSecurity: false,
  });
}

const nothing = () => Promise.resolve();

/**
 * Security headers and one log line for every response except a 101: Deno's
 * upgrade response must pass unchanged, and a WebSocket logs its close. A
 * refusal's line is the refusal log's, repeats collapsed (`REFUSAL_LOGGED`
 * marks its answer), so it gets no second line here. Decided by the
 * response, not by a request header a client chooses.
 */
export function everyResponse(log: Log, config: Config) {
  const secure = securityHeaders();
  return async function securityAndLog(c: Context<AppEnv>, next: Next) {
    const startedAt = Date.now();
    await next();
    if (c.res.status === 101) return;
    const refused = c.res.headers.has(REFUSAL_LOGGED);
    if (refused) c.res.headers.delete(REFUSAL_LOGGED);
    await secure(c, nothing);
    const hsts = hstsValue(c.req.url, {
      forwardedHttps: config.trustProxy > 0 &&
        c.req.header("x-forwarded-proto") === "https",
      includeSubdomains: config.hstsIncludeSubdomains,
    });
    if (hsts) c.header("Strict-Transport-Security", hsts);
    if (refused) return;
    log({
      event: "http",
      method: servedForHead.has(c.req.raw) ? "HEAD" : c.req.method,
      path: c.req.path,
      status: c.res.status,
      durationMs: Date.now() - startedAt,
    });
  };
}
