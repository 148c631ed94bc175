/**
 * Strict-Transport-Security (RFC 6797), sent only where it can do good: on
 * an answer that went over https, to a host that is not this machine. Over
 * plain http a browser ignores the header (RFC 6797 §8.1), and for
 * `localhost` or a loopback address it would pin every development server on
 * the machine to https for the max-age. `includeSubDomains` is added only
 * when HSTS_INCLUDE_SUBDOMAINS asks: it pins every name under the host too.
 *
 * @module
 */

/** How long a browser keeps to https: 180 days, in seconds (Hono's default). */
export const HSTS_MAX_AGE_SECONDS = 15_552_000;

/**
 * True for a host name that is this machine: `localhost`, a name under
 * `.localhost` (RFC 6761 §6.3), 127.0.0.0/8, `::1` and `0.0.0.0`.
 *
 * @param hostname As the URL parser gives it: lower case, IPv6 in brackets.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isLoopbackHost } from "./hsts.ts";
 * assert.equal(isLoopbackHost("localhost"), true);
 * assert.equal(isLoopbackHost("app.localhost"), true);
 * assert.equal(isLoopbackHost("127.0.0.2"), true);
 * assert.equal(isLoopbackHost("[::1]"), true);
 * assert.equal(isLoopbackHost("echo.example"), false);
 * ```
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/\.$/, "");
  return host === "localhost" || host.endsWith(".localhost") ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === "[::1]" ||
    host === "0.0.0.0" || host === "[::]";
}

/**
 * The Strict-Transport-Security value for one answer, or undefined when
 * none is to be sent.
 *
 * @param url The request's URL: its scheme says whether this server spoke
 * TLS, its host (from the `Host` header) is the name the browser would pin.
 * @param options.forwardedHttps True when a trusted proxy says the client
 * came over https (`X-Forwarded-Proto: https` with TRUST_PROXY set).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hstsValue } from "./hsts.ts";
 * const plain = { forwardedHttps: false, includeSubdomains: false };
 * assert.equal(hstsValue("https://echo.example/", plain), "max-age=15552000");
 * assert.equal(hstsValue("http://echo.example/", plain), undefined);
 * assert.equal(hstsValue("https://localhost/", plain), undefined);
 * ```
 */
export function hstsValue(
  url: string,
  options: { forwardedHttps: boolean; includeSubdomains: boolean },
): string | undefined {
  // Most answers go over http: they skip the URL parse.
  if (!url.startsWith("https:") && !options.forwardedHttps) return undefined;
  if (isLoopbackHost(new URL(url).hostname)) return undefined;
  return options.includeSubdomains
    ? `max-age=${HSTS_MAX_AGE_SECONDS}; includeSubDomains`
    : `max-age=${HSTS_MAX_AGE_SECONDS}`;
}
