/**
 * What an attack split across connections brought, added up per address
 * and per network (`keyNetwork`: IPv4 /24, IPv6 /48), with no I/O: each
 * connection under its own unseen allowance adds what it brought past its
 * split allowance (less one message in flight while it is still sending)
 * and the payload the app saw from it. Split from `overload_attribution.ts`,
 * whose `attribute()` fills and judges these totals.
 *
 * @module
 */
import type { Activity } from "../admission/slots.ts";
import { keyNetwork, NETWORK_SHARE } from "../admission/client_ip.ts";

/**
 * How many addresses' allowances a network's connections get together
 * before it is struck as one (`SplitTotals.over`): the same share of a /24
 * or /48 as the plain-request limit gives (`NETWORK_SHARE`).
 */
export const SPLIT_NETWORK_SHARE = NETWORK_SHARE;

/**
 * Per address and per network, what their connections under their own
 * allowance brought past its split allowance (`beyond`,
 * `overload_attribution.ts`), and the payload
 * the app saw from them (`seen`); `fresh`, of those opened since the last
 * reading remembered; `spared`, what was left out of `beyond` as messages in
 * flight of connections still sending; `peers`, the connections that
 * brought anything past their split allowance, and `all`, every one (what
 * aborting a struck network, and a struck address, takes).
 */
export class SplitTotals {
  readonly #keys = new Map<string, Total>();

  /**
   * Adds a connection of `key`: what it brought past its split allowance
   * (`beyond`), less `spare` (a message in flight) while it is still sending.
   */
  add(
    key: string,
    activity: Activity,
    part: { beyond: number; spare: number; fresh: boolean },
  ): void {
    const all = Math.max(0, Math.round(part.beyond));
    const bytes = Math.max(0, all - part.spare);
    const seen = activity.bytesIn;
    addTo(this.#keys, key, {
      beyond: bytes,
      seen,
      freshBeyond: part.fresh ? bytes : 0,
      freshSeen: part.fresh ? seen : 0,
      spared: all - bytes,
      // Still sending counts: once its key is struck on what its
      // connections brought past a message in flight each, a split
      // attacker's connections mid-message look like uploads (an abort that
      // left 26 of 32 had them hold the loop past the bystander's 5 s while
      // they finished, and the growth went unseen while the watch settled).
      peers: all > 0 && activity.peer ? [activity.peer] : [],
      all: activity.peer ? [activity.peer] : [],
    });
  }

  /**
   * True when `key`'s connections brought more past their split allowances
   * (less a message in flight for each still sending) than the payload the
   * app saw from them.
   */
  unseenPastSeen(key: string): boolean {
    const total = this.#keys.get(key);
    return total !== undefined && total.beyond > total.seen;
  }

  /**
   * The addresses past `one` (one connection's allowance) and then the
   * networks, counting only addresses not struck, past
   * {@link SPLIT_NETWORK_SHARE} times it: each by what it brought past the
   * payload the app saw from the same connections (a client sending many
   * large messages at once has most of its bytes seen), now or, with what
   * `earlier` readings remember of it, by its fresh connections, and
   * struck only while it brings some now. With the rest, what each one's
   * fresh connections brought, to remember, those past the line only
   * with what was spared (`pending`), and the connections an abort takes
   * (`peers`): every one of an address struck (the attacker's; a client
   * behind the same address is cut with it, as a recycle would close it),
   * and of a network struck, those of its addresses that brought anything
   * past their split allowance (a neighbour that exchanges messages keeps
   * its connection).
   */
  over(
    one: number,
    struck: ReadonlySet<string>,
    earlier: (key: string) => number,
  ): {
    struck: Map<string, number>;
    brought: Record<string, number>;
    pending: string[];
    peers: Deno.NetAddr[];
  } {
    const found = new Map<string, number>();
    const peers: Deno.NetAddr[] = [];
    const brought: Record<string, number> = {};
    const pending: string[] = [];
    const networks = new Map<string, Total>();
    const judge = (
      key: string,
      total: Total,
      limit: number,
      network = false,
    ) => {
      const now = total.beyond - total.seen;
      if (now + total.spared > limit) pending.push(key);
      if (now <= 0) return false;
      const fresh = Math.max(0, total.freshBeyond - total.freshSeen);
      const judged = Math.max(now, fresh + earlier(key));
      if (judged > limit) {
        found.set(key, judged);
        peers.push(...(network ? total.peers : total.all));
        pending.pop();
        return true;
      }
      if (fresh > 0) brought[key] = fresh;
      return false;
    };
    for (const [key, total] of this.#keys) {
      if (struck.has(key) || judge(key, total, one)) continue;
      addTo(networks, keyNetwork(key), total);
    }
    for (const [network, total] of networks) {
      judge(network, total, one * SPLIT_NETWORK_SHARE, true);
    }
    return { struck: found, brought, pending, peers };
  }
}

/**
 * What connections brought past their allowances and the payload seen from
 * them; `fresh*`, of those opened since the last reading remembered.
 */
interface Total {
  beyond: number;
  seen: number;
  freshBeyond: number;
  freshSeen: number;
  spared: number;
  peers: Deno.NetAddr[];
  all: Deno.NetAddr[];
}

/** Adds `part` to `key`'s total in `totals` (from 0). */
function addTo(totals: Map<string, Total>, key: string, part: Total): void {
  const total = totals.get(key) ?? {
    beyond: 0,
    seen: 0,
    freshBeyond: 0,
    freshSeen: 0,
    spared: 0,
    peers: [],
    all: [],
  };
  total.beyond += part.beyond;
  total.seen += part.seen;
  total.freshBeyond += part.freshBeyond;
  total.freshSeen += part.freshSeen;
  total.spared += part.spared;
  total.peers.push(...part.peers);
  total.all.push(...part.all);
  totals.set(key, total);
}
