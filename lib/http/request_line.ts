/**
 * The answer to a request line no route can take: a method this server
 * does not know, `CONNECT` (a tunnel), `OPTIONS *` (the server as a whole),
 * or an absolute-form target with a scheme that is not HTTP. Deno hands
 * these to the app with a URL a router misreads: `CONNECT 127.0.0.1:22`
 * arrives as `http://127.0.0.1:22`, whose "path" Hono reads as `2` (the
 * answer was `404 Not found: 2`, issue #20); `OPTIONS *` as
 * `http://host/*`. Deno itself answers `400` to an asterisk-form target with
 * another method and to an authority-form one without `CONNECT`.
 *
 * @module
 */

/**
 * The methods of RFC 9110 §9.3 and `PATCH` (RFC 5789): a request with any
 * other (case counts: `get` is not `GET`) is answered `501`, as RFC 9110
 * §9.1 asks of a method the server does not recognise.
 */
const KNOWN_METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "CONNECT",
  "OPTIONS",
  "TRACE",
  "PATCH",
]);

/** Characters of the client's method repeated in a body, at most. */
const SHOWN_METHOD_CHARS = 32;

/** A status, its headers and a short plain-text body ("" for 204). */
export interface RequestLineAnswer {
  status: 204 | 400 | 405 | 501;
  headers: Record<string, string>;
  body: string;
}

/**
 * What to answer a request line no route can take, or undefined for one
 * the routes should see.
 *
 * - `CONNECT`: `405` with `Allow: GET, HEAD`: this is an origin server,
 *   not a proxy, and a 2xx would tell the client its tunnel is open (RFC
 *   9110 §9.3.6).
 * - `OPTIONS *`: `204` with `Allow: GET, HEAD, OPTIONS` (RFC 9110 §9.3.7);
 *   Deno gives `OPTIONS /*` the same URL, so it gets the same answer.
 * - a method not in RFC 9110 §9.3 or `PATCH`: `501` (RFC 9110 §9.1).
 * - an absolute-form target whose scheme is not `http` or `https` (`GET
 *   ftp://host/healthz`, which Deno passes on as that URL): `400`.
 *
 * @param method The request's method, as Deno gives it (case kept).
 * @param url The request's URL, as Deno builds it from the request line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { requestLineAnswer } from "./request_line.ts";
 * assert.equal(requestLineAnswer("CONNECT", "http://127.0.0.1:22")?.status, 405);
 * assert.equal(requestLineAnswer("OPTIONS", "http://localhost/*")?.status, 204);
 * assert.equal(requestLineAnswer("BREW", "http://localhost/")?.status, 501);
 * assert.equal(requestLineAnswer("GET", "http://localhost/healthz"), undefined);
 * ```
 */
export function requestLineAnswer(
  method: string,
  url: string,
): RequestLineAnswer | undefined {
  if (!isServedScheme(url)) {
    return {
      status: 400,
      headers: {},
      body: "Bad request target: only http and https URLs are served here\n",
    };
  }
  if (method === "CONNECT") {
    return {
      status: 405,
      headers: { Allow: "GET, HEAD" },
      body:
        "Method CONNECT not allowed: this server is not a proxy and opens no tunnel; use GET\n",
    };
  }
  if (!KNOWN_METHODS.has(method)) {
    const shown = method.length > SHOWN_METHOD_CHARS
      ? `${method.slice(0, SHOWN_METHOD_CHARS)}…`
      : method;
    return {
      status: 501,
      headers: {},
      body:
        `Method ${shown} not implemented: this server answers GET and HEAD\n`,
    };
  }
  if (method === "OPTIONS" && isAsteriskForm(url)) {
    return { status: 204, headers: { Allow: "GET, HEAD, OPTIONS" }, body: "" };
  }
  return undefined;
}

/**
 * Whether `url` (Deno's, from the request line) is `http:` or `https:`:
 * an absolute-form target may name any scheme (`GET ftp://host/echo`),
 * and the upgrade path, which skips Hono, asks this before routing.
 */
export function isServedScheme(url: string): boolean {
  return url.startsWith("http://") || url.startsWith("https://");
}

/** `http://host/*` and nothing after: Deno's URL for `OPTIONS *`. */
function isAsteriskForm(url: string): boolean {
  return url.endsWith("/*") &&
    url.indexOf("/", url.indexOf("//") + 2) === url.length - 2;
}
