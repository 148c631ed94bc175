/**
 * The client IP that the per-IP limits and the logs use.
 *
 * @module
 */

/**
 * Returns the socket's remote address or, when the service sits behind a proxy
 * it trusts, the first `X-Forwarded-For` entry (the original client).
 *
 * @example
 * ```ts
 * import { clientIp } from "./client_ip.ts";
 * const headers = new Headers({ "x-forwarded-for": "203.0.113.7, 10.0.0.1" });
 * console.assert(clientIp("10.0.0.1", headers, true) === "203.0.113.7");
 * console.assert(clientIp("10.0.0.1", headers, false) === "10.0.0.1");
 * ```
 */
export function clientIp(
  remoteAddress: string | undefined,
  headers: Headers,
  trustProxy: boolean,
): string {
  if (trustProxy) {
    const first = headers.get("x-forwarded-for")?.split(",")[0]?.trim();
    if (first) return first;
  }
  return remoteAddress ?? "unknown";
}
