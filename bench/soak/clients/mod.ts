/**
 * The well-behaved clients that run for the whole soak: 4 bystanders, 2
 * churn clients, 1 SSE client, all from 127.0.0.x. Adding one: a module in
 * `clients/` and a line here (its figures go into `WellBehaved`).
 *
 * @module
 */
import type net from "node:net";
import type { WellBehaved } from "../record.ts";
import { bystander } from "./bystander.ts";
import { churn } from "./churn.ts";
import { sseClient } from "./sse.ts";

/** What a well-behaved client runs with. */
export interface ClientContext {
  port: number;
  well: WellBehaved;
  /** Every socket opened; destroyed at the end. */
  sockets: Set<net.Socket>;
  /** Aborts at the end of the soak. */
  signal: AbortSignal;
  /** Seconds since the soak began. */
  now: () => number;
}

/** Starts every well-behaved client; each promise ends after the signal. */
export function startWellBehaved(ctx: ClientContext): Promise<void>[] {
  const { port, well, sockets, signal, now } = ctx;
  return [
    ...[0, 1, 2, 3].map((id) =>
      bystander(id, port, well, sockets, signal, now)
    ),
    ...[0, 1].map((id) => churn(id, port, well, sockets, signal, now)),
    sseClient(port, well, sockets, signal),
  ];
}
