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
import { admitClient, identifyClient } from "../lib/admission/admit.ts";
import { EventStream } from "../lib/connection/event_stream.ts";
import { serveLeasedStream } from "../lib/connection/leased_stream.ts";
import { visibleHeaders } from "../lib/http/inspect_report.ts";
import type { AppEnv, Services } from "../lib/services.ts";

/** The SSE endpoint, mounted at `/sse`. */
export function sseRoute(services: Services): Hono<AppEnv> {
  const route = new Hono<AppEnv>();

  route.get("/", function events(c) {
    const request = c.req.raw;
    const client = identifyClient(services.config, {
      kind: "sse",
      path: "/sse",
      request,
      peer: c.env?.remoteAddr,
    });
    const lease = admitClient(services, client);
    if (lease instanceof Response) return lease;
    const url = new URL(request.url);
    return serveLeasedStream(
      c,
      services,
      { client, lease },
      (writer, id) =>
        new EventStream(writer, services, [
          {
            event: "server",
            data: { instance: services.ids.instance, stream: id },
          },
          {
            event: "request",
            data: {
              method: request.method,
              target: url.pathname + url.search,
              headers: visibleHeaders(request.headers),
            },
          },
        ]),
    );
  });
  return route;
}
