/**
 * Every refused request to a connection endpoint (the WebSocket endpoints and
 * `/sse`), and every plain request past its address's rate, goes through
 * {@link refuse}, which counts it in `/metrics`, logs it (the first of an
 * address and reason at once, the rest as a count a second:
 * `refusal_log.ts`) and answers with the status, headers and body of its row
 * in the catalogue (`lib/refusals.ts`), as ws's `abortHandshake` and
 * python-websockets' `reject` do.
 *
 * @module
 */
import type { Metrics } from "../metrics.ts";
import type { Refusal } from "../refusals.ts";
import type { RefusalLog } from "./refusal_log.ts";

/** Who was refused, for the log line. */
export interface Refused {
  /**
   * `ws` for the WebSocket endpoints, `sse` for `/sse`, `http` for a plain
   * request refused before routing (its address's request rate, its `Host`)
   * or by the page's files (`routed`).
   */
  kind: "ws" | "sse" | "http";
  path: string;
  /** The client IP as the limits see it, when known. */
  ip?: string | undefined;
  /** The `Origin` header, logged for origin refusals. */
  origin?: string | undefined;
  /**
   * True for an `http` refusal answered by a route (a page file that cannot
   * be opened), whose answer goes on through Hono like a `ws` or `sse` one.
   */
  routed?: boolean;
}

/**
 * Counts, logs and answers one refusal. The response is never cached.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Metrics } from "../metrics.ts";
 * import { refusal } from "../refusals.ts";
 * import { RefusalLog } from "./refusal_log.ts";
 * import { refuse } from "./refuse.ts";
 * const metrics = new Metrics();
 * const lines: string[] = [];
 * const refusalLog = new RefusalLog((r) => lines.push(r.event));
 * const response = refuse({ metrics, refusalLog }, {
 *   kind: "ws",
 *   path: "/echo",
 * }, refusal("bad_handshake", { detail: "Bad key" }));
 * assert.equal(response.status, 400);
 * assert.equal(metrics.refusals.get("bad_handshake"), 1);
 * assert.deepEqual(lines, ["ws_refused"]);
 * refusalLog.dispose();
 * ```
 */
export function refuse(
  services: {
    metrics: Metrics;
    refusalLog: RefusalLog;
    /** When its `closesRefusals` is true, the answer closes the connection. */
    registry?: { closesRefusals: boolean };
  },
  who: Refused,
  refusal: Refusal,
): Response {
  if (refusal.reason === "status_asked") {
    services.metrics.statusAsked(refusal.status);
  } else services.metrics.refused(refusal.reason);
  services.refusalLog.refused({
    event: `${who.kind}_refused`,
    ip: who.ip,
    reason: refusal.reason,
    status: refusal.status,
    path: who.path,
    origin: refusal.reason === "origin" ? who.origin ?? "" : undefined,
  });
  return new Response(
    services.registry?.closesRefusals
      ? closingBody(refusal.body)
      : refusal.body,
    {
      status: refusal.status,
      headers: {
        ...refusal.headers,
        "Content-Type": "text/plain; charset=utf-8",
        "Cache-Control": "no-store",
        // Answered through Hono, whose every-response line it must not get.
        ...(who.kind === "http" && !who.routed
          ? {}
          : { [REFUSAL_LOGGED]: "1" }),
      },
    },
  );
}

/**
 * The error that ends a refusal's body when the server closes refused
 * connections ({@link closingBody}); the server's `onError`
 * (`start/listener.ts`) says nothing about it.
 */
export class RefusalClosed extends Error {
  constructor() {
    super("Refusal answered: connection closed");
    this.name = "RefusalClosed";
  }
}

/**
 * A refusal's text as a body that ends in {@link RefusalClosed} once the
 * text is taken: Deno 2.9 then closes the connection as soon as it has
 * written the text (its chunked ending left out), where after a whole
 * answer it keeps the connection for the client's next request, whatever
 * `Connection: close` says, and a descriptor with it until the client
 * closes (a refused crowd under `prlimit --nofile=256` ran the descriptors
 * out: `bench/attacks/held_refusals.sh`).
 *
 * @param text The refusal's body.
 */
export function closingBody(text: string): ReadableStream<Uint8Array> {
  let taken = false;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (taken) return controller.error(new RefusalClosed());
      taken = true;
      controller.enqueue(new TextEncoder().encode(text));
    },
  });
}

/**
 * The header on a `ws` or `sse` refusal's answer, which goes on through
 * Hono (`routes/every_response.ts`): the refusal log has its line (repeats
 * collapsed), so the line every answer gets would write each refusal again,
 * uncollapsed (~300 lines a second of `http ... status=503` beside one
 * `ws refused ... repeated=` a second, non-readers refused under attack).
 * That middleware removes it, so no client sees it. A header rather than the
 * Response object: Hono makes a new Response when a middleware before the
 * route touched the answer (`cors` on `/sse`). A plain request's refusal
 * (`http`) is answered before Hono and gets none.
 */
export const REFUSAL_LOGGED = "x-ws-echo-refusal-logged";
