/**
 * The failure controls a client asks for in the query, to test how it
 * handles a server that misbehaves: `status=CODE` (with `retry_after=`)
 * refuses the upgrade with that status, and `open_delay=MS` holds the `101`
 * back. Public HTTP test services are asked for exactly these (per-request
 * status codes and delays).
 *
 * @module
 */
import { type Refusal, refusal } from "../refusals.ts";

/**
 * The refusal a client asked for with `status=`, or undefined when it asked
 * for none. Its reason is `status_asked`, which `/metrics` counts apart from
 * real refusals.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { askedRefusal } from "./failure_controls.ts";
 * const refusal = askedRefusal({ status: 503, retry_after: 7 });
 * assert.equal(refusal?.status, 503);
 * assert.equal(refusal?.headers["Retry-After"], "7");
 * assert.equal(askedRefusal({}), undefined);
 * ```
 */
export function askedRefusal(
  query: { status?: number | undefined; retry_after?: number | undefined },
): Refusal | undefined {
  if (query.status === undefined) return undefined;
  return refusal(
    "status_asked",
    query.retry_after === undefined
      ? { status: query.status }
      : { status: query.status, retryAfterSeconds: query.retry_after },
  );
}

/** Why {@link waitToOpen} stopped early. */
export type OpenDelayEnd = "waited" | "client_gone" | "shutting_down";

/**
 * Waits until `openDelayMs` after `arrivedAt`, the request's arrival, so the
 * `101` goes out that long after the request came in. Ends early when the
 * client goes (`signal` aborts) or the server starts shutting down (checked
 * every 100 ms, so a stopping server never waits the whole delay).
 *
 * @param openDelayMs The `open_delay` option, in milliseconds.
 * @param arrivedAt `Date.now()` when the request arrived.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { waitToOpen } from "./failure_controls.ts";
 * const end = await waitToOpen(20, {
 *   arrivedAt: Date.now(),
 *   signal: new AbortController().signal,
 *   stopping: () => false,
 * });
 * assert.equal(end, "waited");
 * ```
 */
export function waitToOpen(
  openDelayMs: number,
  about: {
    arrivedAt: number;
    signal: AbortSignal;
    /** True once the server is shutting down. */
    stopping: () => boolean;
  },
): Promise<OpenDelayEnd> {
  const { promise, resolve } = Promise.withResolvers<OpenDelayEnd>();
  const dueAt = about.arrivedAt + openDelayMs;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const end = (why: OpenDelayEnd) => {
    clearTimeout(timer);
    about.signal.removeEventListener("abort", gone);
    resolve(why);
  };
  const gone = () => end("client_gone");
  const tick = () => {
    if (about.stopping()) return end("shutting_down");
    const left = dueAt - Date.now();
    if (left <= 0) return end("waited");
    timer = setTimeout(tick, Math.min(left, SHUTDOWN_CHECK_MS));
  };
  if (about.signal.aborted) {
    resolve("client_gone");
    return promise;
  }
  about.signal.addEventListener("abort", gone);
  tick();
  return promise;
}

/** How often a delayed open checks whether the server is shutting down. */
const SHUTDOWN_CHECK_MS = 100;
