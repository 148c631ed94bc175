/**
 * The shapes of what a soak records: its plan, the samples, the phases and
 * the well-behaved clients' figures. They go to the report and, whole, to
 * `bench/results/soak-<time>.json`.
 *
 * @module
 */
import type { Counts } from "./shared.ts";

/** How long each part lasts, in milliseconds. */
export interface Plan {
  warmUpMs: number;
  burstHoldMs: number;
  /** After the flooders leave: how long to keep trying to get a new client in. */
  admissionLimitMs: number;
  settleMs: number;
  phaseMs: number;
  gapMs: number;
}

/** One sample of the server's RSS: seconds into the run, KiB, the phase then. */
export type RssSample = [seconds: number, kib: number, phase: string];

/** One `/healthz` answer (or the error outcome) and how long it took. */
export interface HealthSample {
  t: number;
  status: number | string;
  ms: number;
  body?: Record<string, unknown>;
}

/** One phase as it ran: seconds into the run, and what its clients saw. */
export interface PhaseRecord {
  phase: string;
  cycle: number;
  start: number;
  end: number;
  counts?: Counts;
  detail?: Record<string, unknown>;
}

/** The admission check after a burst. */
export interface Admission {
  cycle: number;
  /** From the last flooder leaving to the first echo of a new client; null if none. */
  ms: number | null;
  attempts: Counts;
}

/** Figures the well-behaved clients collect. */
export interface WellBehaved {
  /** [seconds, round-trip ms, bystander] per echo. */
  bystander: Array<[number, number, number]>;
  /** Messages never echoed: [seconds, ms waited until given up, bystander]. */
  unanswered: Array<[number, number, number]>;
  bystanderEvents: Counts;
  churn: Counts;
  /** [seconds, ms] per successful churn session. */
  churnMs: Array<[number, number]>;
  sse: Counts;
  sseMs: number[];
}

/** Everything one soak recorded, for the report. */
export interface SoakRun {
  quick: boolean;
  minutes: number;
  plan: Plan;
  rss: RssSample[];
  health: HealthSample[];
  phases: PhaseRecord[];
  admissions: Admission[];
  well: WellBehaved;
  metricsAtEnd: string;
  alive: boolean;
  serverExit: Deno.CommandStatus | undefined;
  serverStderr: string;
  safetyStop: boolean;
  safetyKiB: number;
  workerError: string | undefined;
  interrupted: string;
  seconds: number;
}
