/**
 * What a hostile phase is: a name, its own block of source addresses, a
 * function that starts its clients, and optional lines for the report. The
 * attacker worker runs it; `phases/mod.ts` lists them in cycle order.
 *
 * @module
 */
import type { PhaseRecord } from "../record.ts";
import type { PhaseRun, Session } from "./agent.ts";

/** What a phase's `start` gets to launch its clients with. */
export interface PhaseContext {
  run: PhaseRun;
  port: number;
  /** The cycle, from 0. */
  cycle: number;
  /** Addresses `127.0.<block>.<from>` … `<from + n - 1>` of the phase's block. */
  range(from: number, n: number): string[];
  /**
   * `n` addresses of the phase's block not used in the last cycles, for
   * phases whose slots the server may still hold (slow readers' 60 s, SSE's
   * lifetime).
   */
  fresh(n: number): string[];
  /**
   * Starts `perAddress` clients from each of `addresses`, spread over
   * `rampMs`; each reconnects while the phase lasts ({@linkcode agent}).
   */
  flock(
    addresses: string[],
    perAddress: number,
    rampMs: number,
    make: (localAddress: string) => Session,
  ): void;
  /** Runs a task of the phase's own; the phase waits for it at the end. */
  spawn(task: Promise<void>): void;
  /** Extra figures of the phase, for the report and the JSON. */
  detail: Record<string, unknown>;
}

/** A hostile phase. */
export interface HostilePhase {
  /** Its name in the log, the report and the JSON. */
  name: string;
  /** The third byte of its clients' source addresses: 1-6, 8-255, its own. */
  block: number;
  /** Starts the phase's clients; they run until `ctx.run` ends. */
  start(ctx: PhaseContext): void;
  /** Extra report lines from every cycle's record of this phase. */
  report?(records: PhaseRecord[]): string[];
}
