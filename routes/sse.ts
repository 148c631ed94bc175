/**
 * `GET /sse`: a Server-Sent Events stream to compare with WebSocket. It sends
 * `server` and `request` once, `time` every second, and `end` when its
 * lifetime (SSE_LIFETIME_SECONDS) is up; each stream holds a connection slot
 * like a WebSocket, so the per-IP and total caps cover it.
 *
 * @module
 */
import { Hono } from "hono/quick";
import { streamSSE } from "hono/streaming";
import { admitClient } from "../lib/admission/admit.ts";
import { clientIp, clientKey } from "../lib/admission/client_ip.ts";
import { visibleHeaders } from "../lib/http/inspect_report.ts";
import type { AppEnv, Services } from "../lib/services.ts";

/** How long EventSource waits before reconnecting after a stream ends. */
export const SSE_RETRY_MS = 5000;

/** The SSE endpoint, mounted at `/sse`. */
export function sseRoute(services: Services): Hono<AppEnv> {
  const { config, log, ids } = services;
  const route = new Hono<AppEnv>();

  route.get("/", function events(c) {
    const request = c.req.raw;
    const ip = clientIp(
      c.env?.remoteAddr?.hostname,
      request.headers,
      config.trustProxy,
    );
    const lease = admitClient(services, {
      kind: "sse",
      path: "/sse",
      ip,
      key: clientKey(ip, config.ipv6PrefixLength),
      origin: request.headers.get("origin") ?? undefined,
    });
    if (lease instanceof Response) return lease;
    const id = ids.next();
    const startedAt = performance.now();
    return streamSSE(c, async (stream) => {
      const { promise: ended, resolve: end } = Promise.withResolvers<string>();
      lease.track({ close: (reason) => end(reason.reason) });
      stream.onAbort(() => end("client went away"));
      const lifetime = setTimeout(
        () => end(`lifetime of ${config.sseLifetimeSeconds} s reached`),
        config.sseLifetimeSeconds * 1000,
      );
      let tick: ReturnType<typeof setTimeout> | undefined;
      let events = 0;
      /** Writes unless the stream ended first; false once it has. */
      const send = async (event: string, data: unknown, retry?: number) => {
        const written = stream.writeSSE({
          event,
          data: JSON.stringify(data),
          id: String(++events),
          ...(retry === undefined ? {} : { retry }),
        }).then(() => true);
        return await Promise.race([written, ended.then(() => false)]);
      };
      let why = "";
      try {
        const url = new URL(request.url);
        await send(
          "server",
          { instance: ids.instance, stream: id },
          SSE_RETRY_MS,
        );
        await send("request", {
          method: request.method,
          target: url.pathname + url.search,
          headers: visibleHeaders(request.headers),
        });
        while (await send("time", new Date().toISOString())) {
          const second = new Promise<boolean>((resolve) => {
            tick = setTimeout(() => resolve(true), 1000);
          });
          if (!await Promise.race([second, ended.then(() => false)])) break;
        }
        why = await ended;
        if (!stream.aborted) {
          await stream.writeSSE({
            event: "end",
            data: JSON.stringify({ reason: why }),
            id: String(++events),
          });
        }
      } finally {
        clearTimeout(lifetime);
        clearTimeout(tick);
        lease.release();
        log({
          event: "sse_close",
          id,
          ip,
          reason: why,
          durationMs: Math.round(performance.now() - startedAt),
          events,
        });
      }
    });
  });
  return route;
}
