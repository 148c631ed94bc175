/**
 * `GET /sse`: a Server-Sent Events stream to compare with WebSocket. It sends
 * `server` and `request` once, `time` every second, and `end` when its
 * lifetime (SSE_LIFETIME_SECONDS) is up, at shutdown, or when the memory
 * guard sheds it (`lib/connection/event_stream.ts`). Each stream holds a
 * connection slot like a WebSocket, so the per-IP and total caps cover it,
 * and counts in `/healthz`'s `connections`.
 *
 * @module
 */
import { Hono } from "hono/quick";
import { streamSSE } from "hono/streaming";
import { admitClient, identifyClient } from "../lib/admission/admit.ts";
import { EventStream } from "../lib/connection/event_stream.ts";
import { visibleHeaders } from "../lib/http/inspect_report.ts";
import type { AppEnv, Services } from "../lib/services.ts";

/** The SSE endpoint, mounted at `/sse`. */
export function sseRoute(services: Services): Hono<AppEnv> {
  const { config, log, ids } = services;
  const route = new Hono<AppEnv>();

  route.get("/", function events(c) {
    const request = c.req.raw;
    const client = identifyClient(config, {
      kind: "sse",
      path: "/sse",
      request,
      peer: c.env?.remoteAddr,
    });
    const { ip } = client;
    const lease = admitClient(services, client);
    if (lease instanceof Response) return lease;
    const id = ids.next();
    const startedAt = performance.now();
    return streamSSE(c, async (stream) => {
      const events = new EventStream(stream, services);
      lease.track(events);
      const lifetime = setTimeout(
        () => events.end(`lifetime of ${config.sseLifetimeSeconds} s reached`),
        config.sseLifetimeSeconds * 1000,
      );
      const url = new URL(request.url);
      try {
        await events.run([
          { event: "server", data: { instance: ids.instance, stream: id } },
          {
            event: "request",
            data: {
              method: request.method,
              target: url.pathname + url.search,
              headers: visibleHeaders(request.headers),
            },
          },
        ]);
      } finally {
        clearTimeout(lifetime);
        lease.release();
        log({
          event: "sse_close",
          id,
          ip,
          reason: events.reason ?? "",
          durationMs: Math.round(performance.now() - startedAt),
          events: events.sent,
        });
      }
    });
  });
  return route;
}
