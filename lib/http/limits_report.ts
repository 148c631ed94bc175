/**
 * The limits a client can run into, described from the configuration:
 * `GET /limits` and the `/inspect` report both print this. Which settings are
 * limits, and what each does, comes from the settings table in `config.ts`.
 *
 * @module
 */
import {
  type Config,
  ENV_NAMES,
  type EnvName,
  parseConfig,
  type Setting,
  SETTINGS,
} from "../config.ts";

/** One limit as a client sees it. */
export interface LimitDescription {
  /** The active value, in `unit`. */
  value: number;
  /** The value when the variable is unset. */
  default: number;
  /** True when `value` is 0 and the limit is switched off. */
  off: boolean;
  unit: string;
  /** The environment variable that sets it. */
  env: string;
  /** What happens at the limit. */
  breach: string;
}

/** A config property holding a number: the limits are among these. */
export type LimitName = {
  [Key in keyof Config]: Config[Key] extends number ? Key : never;
}[keyof Config];

/** The settings that are limits: those with a `breach`. */
const LIMIT_ENVS: readonly EnvName[] = ENV_NAMES.filter((name) =>
  (SETTINGS[name] as Setting).breach !== undefined
);

/** The defaults, parsed on the first `/limits` rather than at every start. */
let parsedDefaults: Config | undefined;
function defaults(): Config {
  return parsedDefaults ??= parseConfig({});
}

/**
 * Every limit with its active value and default, keyed by its config name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_CONFIG } from "../config.ts";
 * import { describeLimits } from "./limits_report.ts";
 * const limits = describeLimits({ ...DEFAULT_CONFIG, maxMessageBytes: 0 });
 * assert.equal(limits.maxMessageBytes?.off, true);
 * assert.equal(limits.maxMessageBytes?.env, "MAX_MESSAGE_BYTES");
 * ```
 */
export function describeLimits(
  config: Config,
): Partial<Record<LimitName, LimitDescription>> {
  const described: Partial<Record<LimitName, LimitDescription>> = {};
  for (const env of LIMIT_ENVS) {
    const setting: Setting = SETTINGS[env];
    const key = setting.key as LimitName;
    described[key] = {
      value: config[key],
      default: defaults()[key],
      off: config[key] === 0,
      unit: setting.unit,
      env,
      breach: setting.breach!,
    };
  }
  return described;
}
