/**
 * An overload incident's record: its suspects struck (`suspects.ts`), the
 * incident counted (`/metrics`, `/healthz`), and what the last sample saw.
 * Split from `overload_watch.ts`, which decides the action.
 *
 * @module
 */
import type { IncidentCause } from "../metrics.ts";
import type { IncidentAction, IncidentRecord, Services } from "../services.ts";
import type { Suspects } from "./incident_suspects.ts";
import type { Strike } from "../admission/suspects.ts";
import type { Sample } from "./overload_signals.ts";
import { withEvidence } from "./incident_log.ts";

/** What an incident was and what was done ({@link incidentRecord}). */
export interface IncidentFacts {
  cause: IncidentCause;
  action: IncidentAction;
  /** Client keys to strike. */
  keys: string[];
  /** Connections closed with 1013. */
  closed: number;
  /** The watch's last sample, if any. */
  last: Sample | undefined;
  /** The share of a core the process used over the detector's window. */
  cpuShare: number | undefined;
  /** How the suspects were found, when they were judged. */
  evidence?: Suspects;
  /**
   * The strikes of `keys` already made (before an abort, so that every
   * worker refuses a listed client before it can reconnect:
   * `incident_actions.ts`): not struck again. @default none, `keys` are
   * struck here
   */
  strikes?: readonly Strike[];
}

/**
 * Strikes `facts.keys` (unless `facts.strikes` has), counts the incident
 * and builds its record.
 */
export function incidentRecord(
  services: Pick<Services, "metrics" | "suspects" | "overload" | "memory">,
  facts: IncidentFacts,
): IncidentRecord {
  const { metrics, suspects, overload, memory } = services;
  metrics.incident(facts.cause);
  overload.incidents++;
  const refused: Record<string, number> = {};
  for (const strike of facts.strikes ?? suspects.strike(facts.keys)) {
    if (strike.refusedForSeconds === 0) continue;
    refused[strike.key] = strike.refusedForSeconds;
    metrics.suspectsListed++;
  }
  const { last, cpuShare } = facts;
  const record: IncidentRecord = {
    cause: facts.cause,
    action: facts.action,
    at: new Date().toISOString(),
    rssBytes: last?.rssBytes ?? 0,
    usedBytes: last?.usedBytes ?? memory.state().usedBytes,
    eventLoopDelayMs: Math.round(last?.delayMs ?? 0),
    ...(cpuShare === undefined
      ? {}
      : { cpuPercent: Math.round(cpuShare * 100) }),
    closed: facts.closed,
    struck: facts.keys,
    refused,
  };
  return facts.evidence ? withEvidence(record, facts.evidence) : record;
}
