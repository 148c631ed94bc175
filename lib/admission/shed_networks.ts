/**
 * The networks (IPv4 /24, IPv6 /48: `networkKey`) whose connections the
 * memory guard shed for its budget lately. While the budget waits for shed
 * connections to leave, the guard refuses upgrades from these and admits
 * the rest (`MemoryGuard.admitsFrom`): 128 clients that never read, from
 * 128 /24s, reconnecting as fast as they were shed, kept the guard
 * refusing so often that 18 of 22 honest newcomers got `503` (an attack
 * review under `deno task serve`; 82%). An honest newcomer from another
 * network has never been shed; an attacker's network is after its first
 * shed.
 *
 * @module
 */
import { BoundedMap } from "./bounded_map.ts";

/** How long a network stays marked after a shed, in ms. */
export const SHED_NETWORK_MS = 10_000;

/**
 * Networks remembered at most: past it the oldest mark goes, so a flood of
 * networks costs bounded memory (and those it forgets are admitted as
 * anyone would be when the budget has room).
 */
export const MAX_SHED_NETWORKS = 4096;

/** The networks shed lately, each with when it last was. */
export class ShedNetworks {
  readonly #at = new BoundedMap<string, number>(MAX_SHED_NETWORKS);

  /** Marks `network` as shed at `now` (ms). */
  shed(network: string, now: number): void {
    this.#at.set(network, now);
  }

  /** True when `network` was shed within {@link SHED_NETWORK_MS} of `now`. */
  recent(network: string, now: number): boolean {
    const at = this.#at.get(network);
    if (at === undefined) return false;
    if (now - at < SHED_NETWORK_MS) return true;
    this.#at.delete(network);
    return false;
  }
}
