/**
 * Upgrades whose socket never opened (reset by the client right after its
 * request): Deno 2.9 keeps their descriptor for good and never fires their
 * `open` or `close` (issue #20; `deno run -A bench/overload_facts.ts reset
 * 500`: of 500 resets, 393 never opened). The overload watch counts them
 * here, and reports an incident once {@link LEAK_TRIP} have been counted.
 *
 * @module
 */
import type { Activity } from "../admission/slots.ts";
import type { SuspectList } from "../admission/suspects.ts";
import { PromptClock } from "./prompt_clock.ts";
import { abortStrikes } from "./incident_aborts.ts";

/**
 * An upgrade whose socket has not opened after the event loop has been
 * prompt for this long is taken for leaked, in ms (`prompt_clock.ts`).
 */
export const STUCK_UPGRADE_MS = 2000;
/** Leaked upgrades that make one `descriptor_leak` incident. */
export const LEAK_TRIP = 16;

/** What {@link UpgradeLeaks.count} found once it reached {@link LEAK_TRIP}. */
export interface Leaked {
  /** Upgrades counted since the last incident. */
  leaked: number;
  /** The client keys they came from. */
  keys: string[];
}

/**
 * Counts each stuck upgrade once, on a clock that runs only while the event
 * loop is prompt: a held loop delivers `open` events seconds late, and the
 * wall clock took a burst's slow opens for leaks (s20, issue #20).
 */
export class UpgradeLeaks {
  readonly #clock = new PromptClock();
  readonly #counted = new WeakSet<object>();
  readonly #keys = new Set<string>();
  #leaked = 0;

  /**
   * One watch sample: at `at` (ms since epoch) the timer was `delayMs` late.
   */
  tick(at: number, delayMs: number): void {
    this.#clock.add(at, delayMs);
  }

  /**
   * Counts the connections whose socket has not opened within
   * {@link STUCK_UPGRADE_MS} of prompt loop.
   *
   * @param unopened How many tracked connections have not opened (registry
   * count minus the open ones): at 0 nothing is read.
   * @param connections Every tracked connection with its client key (a
   * copy: `onLeak` may untrack one).
   * @param onLeak Called once per upgrade counted, with it (`/healthz`, and
   * the cap: `ConnectionRegistry.leak`).
   * @returns What was counted since the last incident, once it reaches
   * {@link LEAK_TRIP}; then the count starts again.
   */
  count<Connection extends { activity?: () => Activity }>(
    unopened: number,
    connections: Iterable<[Connection, string]>,
    onLeak: (connection: Connection) => void,
  ): Leaked | undefined {
    // Read from the first: a leaked upgrade leaves the registry at its open
    // deadline (10 s), so a slow attacker (one reset a second, every other
    // one leaked) never had 16 at once and was never counted, while each
    // holds its descriptor for good. Reading every connection once a second
    // while some handshake is pending is cheap next to the handshakes.
    if (unopened < 1) return undefined;
    const stuckBefore = this.#clock.since(STUCK_UPGRADE_MS);
    for (const [connection, key] of connections) {
      const activity = connection.activity?.();
      if (
        !activity || activity.opened || activity.startedAt > stuckBefore ||
        this.#counted.has(connection)
      ) continue;
      this.#counted.add(connection);
      this.#leaked++;
      onLeak(connection);
      this.#keys.add(key);
    }
    if (this.#leaked < LEAK_TRIP) return undefined;
    const found = { leaked: this.#leaked, keys: [...this.#keys] };
    this.#leaked = 0;
    this.#keys.clear();
    return found;
  }
}

/**
 * The keys a `descriptor_leak` incident strikes: each address that leaked,
 * and the network (/24, /48) of each one not struck before
 * (`abortStrikes`, the rule an abort follows). A stranger resetting from
 * a fresh address each time never struck one twice, so nothing was
 * refused while the leak grew (753 leaked of 79,466 resets from
 * 127.40-41.x.y, issue #20): now its /24 is refused at its second
 * incident. The addresses whose open connections exchange messages now,
 * and that neither leaked nor were struck before, are vouched for first
 * (`SuspectList.vouch`), so a neighbour in that /24 is not refused with
 * it; a struck one is not, as vouching would clear its strikes (an
 * attacker's echoing connection, beside resets from elsewhere, would
 * never be refused).
 *
 * @param leaked The keys {@link UpgradeLeaks.count} found.
 * @param connections Every tracked connection with its client key.
 * @example Two fresh addresses of one /24, a neighbour exchanging messages
 * ```ts
 * import assert from "node:assert/strict";
 * import { leakStrikes } from "./upgrade_leaks.ts";
 * import { SuspectList } from "../admission/suspects.ts";
 * const suspects = new SuspectList();
 * const talking = { activity: () => ({ opened: true, messages: 3, sent: 3 }) };
 * const connections: Array<[typeof talking, string]> = [[talking, "198.51.100.9"]];
 * suspects.strike(leakStrikes(["198.51.100.7"], connections, suspects));
 * suspects.strike(leakStrikes(["198.51.100.8"], connections, suspects));
 * assert.equal(suspects.refusal("198.51.100.20")?.key, "198.51.100.0/24");
 * assert.equal(suspects.refusal("198.51.100.9"), undefined);
 * // Struck at an earlier incident: its strike stands.
 * suspects.strike(["203.0.113.5"]);
 * leakStrikes(["198.51.100.30"], [[talking, "203.0.113.5"]], suspects);
 * assert.equal(suspects.struckBefore("203.0.113.5"), true);
 * ```
 */
export function leakStrikes(
  leaked: readonly string[],
  connections: Iterable<
    [
      { activity?: () => Pick<Activity, "opened" | "messages" | "sent"> },
      string,
    ]
  >,
  suspects: Pick<SuspectList, "struckBefore" | "vouch">,
): string[] {
  const own = new Set(leaked);
  const talking = new Set<string>();
  for (const [connection, key] of connections) {
    const activity = connection.activity?.();
    if (own.has(key) || !activity?.opened) continue;
    if (suspects.struckBefore(key)) continue;
    if (activity.messages > 0 || activity.sent > 0) talking.add(key);
  }
  suspects.vouch(talking);
  return abortStrikes(leaked, suspects);
}
