/**
 * The soak's command line (`--minutes N`, `--quick`) and the plan it gives:
 * how long each part lasts.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { Plan } from "./record.ts";

/** What the command line asked for. */
export interface SoakOptions {
  quick: boolean;
  minutes: number;
  /** `--overload`: only issue #20's attack phases (`overload.ts`). */
  overload: boolean;
  plan: Plan;
}

const QUICK: Plan = {
  warmUpMs: 3000,
  burstHoldMs: 20_000,
  admissionLimitMs: 15_000,
  settleMs: 2000,
  phaseMs: 4000,
  gapMs: 1000,
};

const FULL: Plan = {
  warmUpMs: 10_000,
  burstHoldMs: 20_000,
  admissionLimitMs: 30_000,
  settleMs: 5000,
  phaseMs: 15_000,
  gapMs: 2000,
};

/**
 * Parses `args`; `--quick` is one minute of the short plan, otherwise
 * `--minutes` (default 10) of the full one.
 *
 * @throws {RangeError} `Invalid --minutes "x": expected a number above 0, at most 1440`
 */
export function parseSoakArgs(args: string[]): SoakOptions {
  const { values } = parseArgs({
    args,
    options: {
      minutes: { type: "string", default: "10" },
      quick: { type: "boolean", default: false },
      overload: { type: "boolean", default: false },
    },
  });
  const quick = values.quick;
  const minutes = quick ? 1 : Number(values.minutes);
  if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 24 * 60) {
    throw new RangeError(
      `Invalid --minutes "${values.minutes}": expected a number above 0, at most 1440`,
    );
  }
  return {
    quick,
    minutes,
    overload: values.overload,
    plan: quick ? QUICK : FULL,
  };
}
