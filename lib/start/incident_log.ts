/**
 * How an overload incident is told: one `overload_incident` log line with
 * what was seen and done, and `/healthz`'s `overload.lastIncident`. Split
 * from `overload_watch.ts`, which builds the record.
 *
 * @module
 */
import type { IncidentRecord, Services } from "../services.ts";
import type { Suspects } from "./incident_suspects.ts";

/**
 * Adds to `record` how its suspects were found (`kernel`, `unseenBytes`).
 *
 * @returns `record`, for chaining.
 */
export function withEvidence(
  record: IncidentRecord,
  suspects: Suspects,
): IncidentRecord {
  record.kernel = suspects.kernel;
  if (Object.keys(suspects.unseen).length > 0) {
    record.unseenBytes = suspects.unseen;
  }
  return record;
}

/**
 * Logs the incident's one line (lists as `key value,key value`), shows it
 * in `/healthz` and counts what was done (`ws_echo_overload_actions_total`,
 * which `/healthz` shows as `overload.actions`).
 */
export function reportIncident(
  services: Pick<Services, "log" | "overload" | "metrics">,
  record: IncidentRecord,
): void {
  services.overload.lastIncident = record;
  services.metrics.incidentActed(record.action);
  const { struck, refused, unseenBytes, ...scalars } = record;
  services.log({
    event: "overload_incident",
    ...scalars,
    struck: struck.join(",") || undefined,
    refused: pairs(refused, "s"),
    unseen: pairs(unseenBytes ?? {}, "B"),
  });
}

/**
 * `record` as `/healthz` shows it to anyone: the addresses struck and
 * refused as counts, without the bytes each address brought. `/healthz` is
 * public (the shipped nginx site passes it), and a client's address is not
 * for strangers to read; the log line keeps them for the operator.
 */
export type PublicIncident =
  & Omit<IncidentRecord, "struck" | "refused" | "unseenBytes">
  & { struck: number; refused: number };

/** {@link PublicIncident} from `record`. */
export function publicIncident(record: IncidentRecord): PublicIncident {
  const { struck, refused, unseenBytes: _unseen, ...scalars } = record;
  return {
    ...scalars,
    struck: struck.length,
    refused: Object.keys(refused).length,
  };
}

/** `{ a: 1, b: 2 }` as `a 1s,b 2s` (`unit` "s"); undefined when empty. */
function pairs(
  entries: Record<string, number>,
  unit: string,
): string | undefined {
  return Object.entries(entries).map(([key, value]) => `${key} ${value}${unit}`)
    .join(",") || undefined;
}
