/**
 * The `Host` header a request may carry: an RFC 3986 host and an optional
 * port, at most {@link MAX_HOST_LENGTH} characters.
 *
 * Why: Deno builds `request.url` from `Host` and the request target, so a
 * `Host` with a `/`, `?` or `#` moved the path the router saw (`GET
 * /nothing-here` with `Host: x/metrics#` was answered with `/metrics`, past
 * any proxy rule on the path), and the 426 body, which names the endpoint's
 * URL, repeated a 6,000-byte `Host` three times (18,254 bytes; an attack
 * review). RFC 9112 §3.2: a server MUST answer `400` to a request whose
 * `Host` has an invalid value.
 *
 * @module
 */

/**
 * The longest `Host` accepted, in characters: a 253-character DNS name and
 * `:65535`.
 */
export const MAX_HOST_LENGTH = 259;

/**
 * RFC 3986 §3.2.2 `host` (`IP-literal`, or `reg-name`, which covers an IPv4
 * address) then `[":" port]`. An empty value is refused before this
 * ({@link badHost}).
 */
const HOST =
  /^(?:\[[0-9A-Za-z:.%~_-]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]{0,5})?$/;

/**
 * Why `host` (the `Host` header's value) is not a host a request may name,
 * or undefined when it is. Empty: refused, as an `http` URI with an empty
 * host is invalid (RFC 9110 §4.2.1) and a target with an authority needs
 * the same one in `Host` (RFC 9112 §3.2). `null` (no `Host`): refused on a
 * WebSocket upgrade (`upgrade`), which is HTTP/1.1 only and must name the
 * host (RFC 6455 §4.1, RFC 9112 §3.2); any other request passes, since
 * Deno does not tell an HTTP/1.0 request, which may omit `Host`, from an
 * HTTP/1.1 one, which RFC 9112 §3.2 says to refuse: `Deno.serve` gives
 * both the same request (no headers, URL `http://localhost:PORT/…`) and
 * `info` (measured on Deno 2.9.6 with raw requests; only its own status
 * line says `HTTP/1.0`). Two `Host` lines never get here: Deno answers
 * `400` itself.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { badHost } from "./host.ts";
 * assert.equal(badHost("echo.example:8080"), undefined);
 * assert.equal(badHost("[::1]:9998"), undefined);
 * assert.match(badHost("x/metrics#")!, /not a host/);
 * assert.match(badHost("")!, /empty/);
 * assert.equal(badHost(null), undefined);
 * assert.match(badHost(null, { upgrade: true })!, /WebSocket upgrade/);
 * ```
 */
export function badHost(
  host: string | null,
  request: { upgrade: boolean } = { upgrade: false },
): string | undefined {
  if (host === null) {
    return request.upgrade
      ? "A WebSocket upgrade names its host: no Host header (RFC 6455 §4.1)"
      : undefined;
  }
  if (host === "") {
    return "The Host header is empty: an http URI needs a host (RFC 9110 §4.2.1)";
  }
  if (host.length > MAX_HOST_LENGTH) {
    return `The Host header is longer than ${MAX_HOST_LENGTH} characters`;
  }
  if (!HOST.test(host)) {
    return "The Host header is not a host and port (RFC 3986 §3.2.2)";
  }
  return undefined;
}
