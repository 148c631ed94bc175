/**
 * The `/inspect` report: what the server saw of one opening handshake, sent
 * as the connection's first frame so users can debug proxies, subprotocols
 * and origins without packet captures.
 *
 * @module
 */
import type { Config } from "./config.ts";
import type { EchoQuery } from "./echo_options.ts";
import { describeLimits } from "./limits.ts";

/** What the route knows about the connection when it upgrades. */
export interface HandshakeSeen {
  request: Request;
  /** The client IP the limits count against. */
  ip: string;
  /** The TCP peer, which differs from `ip` behind a trusted proxy. */
  peer: { hostname: string; port: number } | undefined;
  connection: string;
  instance: string;
  offeredProtocols: string[];
  chosenProtocol: string | undefined;
  options: EchoQuery;
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
      ipFrom: config.trustProxy ? "x-forwarded-for" : "tcp peer",
      peer: seen.peer ?? null,
    },
    origin: headers.get("origin"),
    userAgent: headers.get("user-agent"),
    request: {
      method: request.method,
      target: url.pathname + url.search,
      headers: Object.fromEntries(headers),
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
    limits: describeLimits(config),
  });
}
