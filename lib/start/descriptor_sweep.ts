/**
 * Frees the descriptors of connections that hold one while doing nothing,
 * when accepting fails for want of them. Deno 2.9.6 bounds neither: it has
 * no header-read timeout (a client that sends a request head a byte at a
 * time holds its socket for good) and no keep-alive timeout (a connection
 * answered once waits for its next request for good, whatever the answer
 * said: its HTTP/1.1 server decides keep-alive from the request alone,
 * `serve_http11_raw` in ext/http/http_next.rs). Under `prlimit
 * --nofile=256`, 300 such heads or 216 kept-alive `/healthz` answers took
 * every descriptor and the overload watch ended the process once the
 * listener had been down for 30 s (issue #20).
 *
 * At each accept failure (at most one look a second) the listener's
 * established sockets are read with `ss -tinH`; this process's WebSockets
 * and streams are left alone, and of the rest these are aborted through the
 * kernel (`ss -K`, `socket_abort.ts`):
 *
 * - **No answer yet** (`bytes_sent` absent) at two looks at least
 *   {@link HEAD_WAIT_MS} apart: a request head still arriving, or a
 *   connection that never sent one (slowloris).
 * - **Answered and idle** both ways for {@link KEPT_ALIVE_IDLE_MS}, nothing
 *   queued: a kept-alive connection waiting for a request. Where every
 *   connection of the port is this process's (`deno task start`), any such;
 *   under `deno serve --parallel`, where the other workers' idle WebSockets
 *   look alike to `ss`, those this worker answered without an upgrade
 *   ({@link DescriptorSweep.answered}: its refusals and plain answers), and
 *   any other only once its idle outlasts the ping interval
 *   ({@link SweepOptions.pingIntervalMs}), which a live WebSocket's never
 *   does.
 *
 * Nothing runs while descriptors suffice: an honest browser's kept-alive
 * connection is closed only when the process is out of descriptors and the
 * connection has been idle for 2 s; a browser then opens a new one.
 *
 * @module
 */
import type { SocketAbort } from "../connection/held_sockets.ts";
import type { ConnectionRegistry } from "../admission/slots.ts";
import type { DescriptorReserve } from "./descriptor_reserve.ts";
import { peerKey } from "./socket_bytes.ts";
import type { Log } from "../log.ts";

/**
 * How long a connection may go without an answer before, when descriptors
 * are short, it is aborted, in ms (at least; two looks this far apart must
 * both find it unanswered). An honest request head arrives in one packet;
 * one the event loop has not answered yet is answered well within this.
 */
export const HEAD_WAIT_MS = 10_000;

/**
 * How long an answered connection must have been idle both ways before,
 * when descriptors are short, it is aborted, in ms: a browser reuses its
 * connection within a page load.
 */
export const KEPT_ALIVE_IDLE_MS = 2000;

/** Least time between two looks, in ms: one `ss` run each. */
export const SWEEP_LOOK_MS = 1000;

/** Slack on the ping interval for a live WebSocket's ping and pong, in ms. */
const PING_SLACK_MS = 5000;

/**
 * Most peers {@link DescriptorSweep.answered} remembers (the older half
 * goes at once): about 1.5 MB of keys at most.
 */
const ANSWERED_MAX = 16_384;

/** One established socket of the listener, as the sweep judges it. */
export interface SweptSocket {
  /** The peer, `peerKey` form. */
  peer: string;
  /** The peer as an address, for `ss -K`. */
  addr: Deno.NetAddr;
  /** Bytes waiting for the process to read, and unacknowledged ones sent. */
  recvQ: number;
  sendQ: number;
  /** Whether the process has sent anything on it (`bytes_sent`). */
  answered: boolean;
  /** ms since the last send and the last receive (Infinity when absent). */
  lastSent: number;
  lastReceived: number;
}

/**
 * The sockets of `ss -tinH state established` output: per socket a line
 * `Recv-Q Send-Q LOCAL PEER`, then its `tcp_info` line. The kernel leaves
 * `bytes_sent` out while it is 0. Lines that do not parse are skipped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sweptSockets } from "./descriptor_sweep.ts";
 * const text = "0 0 127.0.0.1:8080 127.0.0.2:40000\n" +
 *   "\t cubic bytes_sent:179 bytes_received:40 lastsnd:2500 lastrcv:2600\n" +
 *   "0 0 [::1]:8080 [::1]:40001\n\t cubic bytes_received:30 lastrcv:100\n";
 * const [kept, head] = sweptSockets(text);
 * assert.equal(kept!.peer, "127.0.0.2:40000");
 * assert.equal(kept!.answered, true);
 * assert.equal(kept!.lastSent, 2500);
 * assert.equal(head!.peer, "::1:40001");
 * assert.equal(head!.answered, false);
 * ```
 */
export function sweptSockets(text: string): SweptSocket[] {
  const socket =
    /^(\d+)[ \t]+(\d+)[ \t]+\S+[ \t]+(\S+)[^\n]*(?:\n([ \t][^\n]*))?/gm;
  const address = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/;
  const field = (info: string, name: string) => {
    const found = new RegExp(`\\b${name}:(\\d+)`).exec(info)?.[1];
    return found === undefined ? undefined : Number(found);
  };
  const sockets: SweptSocket[] = [];
  for (const found of text.matchAll(socket)) {
    const peer = address.exec(found[3]!);
    if (!peer) continue;
    const hostname = peer[1] ?? peer[2]!;
    const port = Number(peer[3]);
    const info = found[4] ?? "";
    sockets.push({
      peer: peerKey(hostname, port),
      addr: { transport: "tcp", hostname, port },
      recvQ: Number(found[1]),
      sendQ: Number(found[2]),
      answered: (field(info, "bytes_sent") ?? 0) > 0,
      lastSent: field(info, "lastsnd") ?? Infinity,
      lastReceived: field(info, "lastrcv") ?? Infinity,
    });
  }
  return sockets;
}

/** Options for {@link DescriptorSweep}. */
export interface SweepOptions {
  /**
   * Lists the listener's established sockets (`ss -tinH` output), or
   * undefined when it cannot. @default `ss` on `port`, with `reserve`
   */
  list?: () => Promise<string | undefined>;
  /** The listener's port, for the default `list`. */
  port?: number;
  /** Descriptors lent to the default `list`'s `ss`. */
  reserve?: DescriptorReserve | undefined;
  /** Aborts sockets by peer (`SsSocketAbort`). */
  abort: SocketAbort;
  /**
   * Whether every connection of the port is this process's (`deno task
   * start`): idle answered ones go after {@link KEPT_ALIVE_IDLE_MS}. Else
   * (`deno serve --parallel`) after the ping interval plus 5 s, and never
   * with pings off. @default false
   */
  portOwned?: boolean;
  /** PING_INTERVAL_SECONDS in ms (0: off). @default 30000 */
  pingIntervalMs?: number;
  /**
   * Writes the `descriptors_swept` line: at each look that aborted any,
   * and once for each new reason it could not (no CAP_NET_ADMIN).
   */
  log?: Log;
  /** The clock, in ms. @default Date.now */
  now?: () => number;
}

/**
 * The sweep: call {@link DescriptorSweep.short} at each accept failure
 * for want of descriptors.
 *
 * @example Two looks 10 s apart abort a head that never ended
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConnectionRegistry } from "../admission/slots.ts";
 * import { DescriptorSweep } from "./descriptor_sweep.ts";
 * const registry = new ConnectionRegistry({ maxPerIp: 0, maxTotal: 10 });
 * let now = 0;
 * const aborted: string[] = [];
 * const sweep = new DescriptorSweep(registry, {
 *   list: () => Promise.resolve("0 0 127.0.0.1:80 127.0.0.9:5\n\t lastrcv:9\n"),
 *   abort: {
 *     abort(peers) {
 *       aborted.push(...peers.map((peer) => peer.hostname));
 *       return Promise.resolve({ aborted: peers.length, left: new Set() });
 *     },
 *   },
 *   now: () => now,
 * });
 * await sweep.short();
 * assert.deepEqual(aborted, []);
 * now = 10_000;
 * await sweep.short();
 * assert.deepEqual(aborted, ["127.0.0.9"]);
 * registry.dispose();
 * ```
 */
export class DescriptorSweep {
  readonly #registry: Pick<ConnectionRegistry, "connections">;
  readonly #options: SweepOptions;
  readonly #now: () => number;
  /** Unanswered peers at the last look, with when each was first seen so. */
  #unanswered = new Map<string, number>();
  /**
   * Peers this worker answered (`answered`), in two generations: once the
   * newer holds half of {@link ANSWERED_MAX} the older is dropped. Evicting
   * the oldest of one Set cost about 20 µs a request once full (V8 walks the
   * deleted entries at its front: 100,000 adds past 16,384 took 2.2 s).
   */
  #answered = new Set<string>();
  #answeredBefore = new Set<string>();
  #lookedAt = -Infinity;
  /** What the kernel said when it last refused: said once, not every look. */
  #lastReason: string | undefined;
  /** What the kernel said when it refused to destroy a socket. */
  #refused: string | undefined;
  #looking: Promise<void> | undefined;
  /** Connections aborted since start, by rule. */
  readonly aborted = { head: 0, keptAlive: 0 };

  constructor(
    registry: Pick<ConnectionRegistry, "connections">,
    options: SweepOptions,
  ) {
    this.#registry = registry;
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /**
   * A request from `peer` reached this worker: unless it becomes a
   * WebSocket or a stream (the registry's), its connection is a plain
   * one, swept when idle like those of a process that owns its port.
   * Under `deno serve` only; between 8,192 and 16,384 of the latest are
   * remembered.
   */
  answered(peer: Deno.NetAddr): void {
    if (this.#answered.size >= ANSWERED_MAX / 2) {
      this.#answeredBefore = this.#answered;
      this.#answered = new Set();
    }
    this.#answered.add(peerKey(peer.hostname, peer.port));
  }

  /**
   * Descriptors ran out: looks, unless a look is under way or the last was
   * less than {@link SWEEP_LOOK_MS} ago. Never rejects.
   */
  short(): Promise<void> {
    // Refused once (no CAP_NET_ADMIN), refused for good: no more looks.
    if (this.#refused !== undefined) return Promise.resolve();
    if (this.#looking) return this.#looking;
    if (this.#now() - this.#lookedAt < SWEEP_LOOK_MS) return Promise.resolve();
    this.#lookedAt = this.#now();
    this.#looking = this.#look().catch(() => {}).finally(() => {
      this.#looking = undefined;
    });
    return this.#looking;
  }

  async #look(): Promise<void> {
    const text = await (this.#options.list ?? this.#ss)();
    if (text === undefined) return;
    const now = this.#now();
    const own = new Set<string>();
    for (const [connection] of this.#registry.connections()) {
      const peer = connection.activity?.().peer;
      if (peer) own.add(peerKey(peer.hostname, peer.port));
    }
    const idleMs = this.#keptAliveIdleMs();
    const heads: Deno.NetAddr[] = [];
    const kept: Deno.NetAddr[] = [];
    const unanswered = new Map<string, number>();
    for (const socket of sweptSockets(text)) {
      if (own.has(socket.peer)) continue;
      const mine = this.#answered.has(socket.peer) ||
        this.#answeredBefore.has(socket.peer);
      if (!socket.answered) {
        const since = this.#unanswered.get(socket.peer) ?? now;
        if (now - since >= HEAD_WAIT_MS) heads.push(socket.addr);
        else unanswered.set(socket.peer, since);
      } else if (
        socket.recvQ === 0 && socket.sendQ === 0 &&
        Math.min(socket.lastSent, socket.lastReceived) >=
          (mine ? KEPT_ALIVE_IDLE_MS : idleMs)
      ) kept.push(socket.addr);
    }
    this.#unanswered = unanswered;
    if (heads.length + kept.length === 0) return;
    const answer = await this.#options.abort.abort([...heads, ...kept]);
    const unavailable = "unavailable" in answer;
    // Without CAP_NET_ADMIN `ss -K` still lists every socket it was refused
    // (iproute2 6.x here: 217 listed, none destroyed), so a refusal means
    // none went.
    const refused = !unavailable && answer.refused !== undefined;
    if (refused) this.#refused = answer.refused;
    const left = unavailable || refused
      ? new Set([...heads, ...kept])
      : answer.left;
    const gone = (peers: Deno.NetAddr[]) =>
      peers.filter((peer) => !left.has(peer)).length;
    this.aborted.head += gone(heads);
    this.aborted.keptAlive += gone(kept);
    const reason = unavailable ? answer.unavailable : answer.refused;
    const news = reason !== undefined && reason !== this.#lastReason;
    this.#lastReason = reason;
    if (gone(heads) + gone(kept) === 0 && !news) return;
    this.#options.log?.({
      event: "descriptors_swept",
      heads: heads.length,
      keptAlive: kept.length,
      aborted: gone(heads) + gone(kept),
      left: left.size,
      ...(reason === undefined ? {} : { reason }),
    });
  }

  #keptAliveIdleMs(): number {
    if (this.#options.portOwned) return KEPT_ALIVE_IDLE_MS;
    const ping = this.#options.pingIntervalMs ?? 30_000;
    return ping > 0 ? ping + PING_SLACK_MS : Infinity;
  }

  #ss = async (): Promise<string | undefined> => {
    const { port, reserve } = this.#options;
    if (port === undefined) return undefined;
    const command = new Deno.Command("ss", {
      args: ["-tinH", "state", "established", `( sport = :${port} )`],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
      signal: AbortSignal.timeout(2000),
    });
    try {
      const output = await (reserve
        ? reserve.lendAwaited(() =>
          command.output()
        )
        : command.output());
      return output.success
        ? new TextDecoder().decode(output.stdout)
        : undefined;
    } catch {
      return undefined;
    }
  };
}
