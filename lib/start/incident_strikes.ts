/**
 * The strikes an incident makes before it cuts anything (`incident_actions.ts`):
 * a client cut reconnects at once, and under `deno serve` another worker
 * admitted it until told of the listing (a repeat attacker's third try got
 * 101, issue #20), so its keys are struck right before the first abort,
 * naming what each key had open and what the abort cuts
 * (`same_try.ts` `StruckConnections`).
 *
 * @module
 */
import type { Services } from "../services.ts";
import type { Strike } from "../admission/suspects.ts";
import { StruckConnections } from "../admission/same_try.ts";
import type { SyncSocketAbort } from "./socket_abort.ts";
import { peerKey } from "./socket_bytes.ts";

/** Strikes made before an abort, for the incident's record. */
export interface StruckAhead {
  keys: string[];
  strikes: Strike[];
}

/**
 * `abort` that runs `strike` right before each of its aborts (the caller
 * makes it strike once): the strike, told to every `deno serve` worker,
 * goes out before the clients learn of the abort. None without `abort`.
 */
export function strikingFirst(
  abort: SyncSocketAbort | undefined,
  strike: (cut: ReadonlySet<string>) => void,
): SyncSocketAbort | undefined {
  if (!abort) return undefined;
  return {
    abortSync(peers) {
      strike(new Set(peers.map((p) => peerKey(p.hostname, p.port))));
      return abort.abortSync(peers);
    },
  };
}

/**
 * A strike for a held stretch of the loop (`StrikeOptions.heldSince`):
 * when the stretch began (ms since epoch: this worker's strikes since are
 * of it), and the peers whose connections' opening tells a new try
 * (`peerKey`). @default every connection of the key
 */
export interface HeldStrike {
  heldSince?: number;
  peers?: ReadonlySet<string>;
  /**
   * The peers this strike's abort cuts (`peerKey`), named to the suspect
   * list (`StrikeOptions.connections`). @default `peers`
   */
  cut?: ReadonlySet<string>;
}

/**
 * Strikes `keys` now, for a record built later (`IncidentActions.record`), with
 * when each key's oldest open connection opened: a client that
 * reconnected after its last strike is on its next try, whichever worker
 * struck it (`same_try.ts` `SAME_INCIDENT_MS`).
 */
export function strikeAhead(
  services: Pick<Services, "suspects" | "registry">,
  keys: string[],
  held?: HeldStrike,
): StruckAhead {
  const { suspects, registry } = services;
  // The connections cut now (`held.cut`): one struck already, by the
  // kernel-count check or another worker, is not struck again.
  const struck = new StruckConnections(new Set(keys));
  const cut = held?.cut ?? held?.peers;
  for (const [connection, key] of registry.connections()) {
    const activity = connection.activity?.();
    const startedAt = activity?.startedAt;
    if (startedAt === undefined) continue;
    const peer = activity?.peer;
    const named = peer && peerKey(peer.hostname, peer.port);
    if (held?.peers && !(named && held.peers.has(named))) continue;
    struck.add(key, startedAt, named && cut?.has(named) ? named : undefined);
  }
  const now = Date.now();
  const { openedAt, connections } = struck;
  const options = held?.heldSince !== undefined
    ? { openedAt, connections, heldSince: held.heldSince }
    : { openedAt, connections };
  return { keys, strikes: suspects.strike(keys, now, options) };
}
