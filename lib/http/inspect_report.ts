/**
 * The `/inspect` report: what the server saw of one opening handshake, sent
 * as the connection's first frame so users can debug proxies, subprotocols
 * and origins without packet captures.
 *
 * @module
 */
import type { Config } from "../config.ts";
import type { EchoQuery } from "../connection/option_schema.ts";
import { describeLimits } from "./limits_report.ts";
import { utf8ByteLength } from "../protocol/utf8.ts";

/**
 * Header names whose values are credentials, reported by length only: the
 * browser's own (`Cookie`, `Authorization`, `Proxy-Authorization`) and those
 * an authenticating proxy adds in front (`X-Auth-Request-Access-Token`,
 * `Cf-Access-Jwt-Assertion`, `X-Amzn-Oidc-Data`, `X-Api-Key`…), matched by
 * the words they use, since no list of proxies' names is complete.
 */
export const CREDENTIAL_HEADER: RegExp =
  /cookie|auth|token|secret|api-?key|session|jwt|oidc|assertion|password|credential|signature/;

/**
 * The request headers as a plain object, with credentials replaced by
 * `"<redacted: N bytes>"`: `/inspect` and `/sse` answer pages on any origin,
 * which must not read the visitor's cookies or tokens through them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { visibleHeaders } from "./inspect_report.ts";
 * const shown = visibleHeaders(new Headers({ cookie: "session=x", accept: "text/plain" }));
 * assert.deepEqual(shown, { accept: "text/plain", cookie: "<redacted: 9 bytes>" });
 * ```
 */
export function visibleHeaders(headers: Headers): Record<string, string> {
  const shown: Record<string, string> = {};
  for (const [name, value] of headers) {
    shown[name] = CREDENTIAL_HEADER.test(name)
      ? `<redacted: ${utf8ByteLength(value)} bytes>`
      : value;
  }
  return shown;
}

/** What the route knows about the connection when it upgrades. */
export interface HandshakeSeen {
  request: Request;
  /** The client IP the limits count against. */
  ip: string;
  /** Where `ip` came from: the TCP peer, X-Forwarded-For, Deno Deploy. */
  ipSource: string;
  /** The TCP peer, which differs from `ip` behind a trusted proxy. */
  peer: { hostname: string; port: number } | undefined;
  connection: string;
  instance: string;
  offeredProtocols: string[];
  chosenProtocol: string | undefined;
  options: EchoQuery;
  /** Query parameters that are not options, which the endpoint ignored. */
  ignoredOptions: string[];
  config: Config;
}

/** The report as JSON text, one object. */
export function inspectReport(seen: HandshakeSeen): string {
  const { request, config } = seen;
  const headers = request.headers;
  const url = new URL(request.url);
  const offeredExtensions = (headers.get("sec-websocket-extensions") ?? "")
    .split(",").map((extension) => extension.trim()).filter(Boolean);
  return JSON.stringify({
    endpoint: url.pathname,
    connection: seen.connection,
    server: seen.instance,
    client: {
      ip: seen.ip,
      ipFrom: seen.ipSource,
      peer: seen.peer ?? null,
    },
    origin: headers.get("origin"),
    userAgent: headers.get("user-agent"),
    request: {
      method: request.method,
      target: url.pathname + url.search,
      headers: visibleHeaders(headers),
    },
    subprotocols: {
      offered: seen.offeredProtocols,
      chosen: seen.chosenProtocol ?? null,
      rule: "the first one offered is accepted",
    },
    extensions: {
      offered: offeredExtensions,
      accepted: [],
      rule:
        "none is accepted: every frame is sent and echoed exactly as written, uncompressed",
    },
    options: seen.options,
    ignoredOptions: seen.ignoredOptions,
    limits: describeLimits(config),
  });
}
