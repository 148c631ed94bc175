/**
 * Aborts TCP connections of the listener by peer, through the kernel: `ss
 * -K` (iproute2) destroys each socket (SOCK_DESTROY: the peer gets a reset,
 * the process's pending writes fail with ECONNABORTED). Deno has no way to
 * abort one WebSocket whose writes are stuck behind a client that does not
 * read (denoland/deno#25126): its queued echoes stay until the client goes,
 * and only a failed write makes Deno let go of them. Destroying a socket
 * needs CAP_NET_ADMIN; without it `ss` says "Operation not permitted" and
 * the sockets stay, which the answer reports (`left`).
 *
 * @module
 */
import { DESTROY_REFUSED, NO_SOCKET_DIAG, peerKey } from "./socket_bytes.ts";
import type { AbortAnswer, SocketAbort } from "../connection/held_sockets.ts";
import type { DescriptorReserve } from "./descriptor_reserve.ts";

/** How long one `ss` call may take before the answer gives up, in ms. */
export const SOCKET_ABORT_TIMEOUT_MS = 2000;

/** At most this many peers per `ss` call: its filter is one argument. */
const PEERS_PER_CALL = 256;

/**
 * The `ss` states in which the process may still hold a socket and the
 * writes queued on it: open both ways, or closed by the peer only. Once
 * the process has closed its side (FIN-WAIT, CLOSING, LAST-ACK, TIME-WAIT)
 * it holds nothing. "connected" took in TIME-WAIT, which Linux keeps 60 s
 * after the service closes first, as it does once a client has read up to
 * its Close and answered: such a reader's backlog stayed counted in the
 * budget for a minute after it had gone (28 MiB with no connection left,
 * issue #20; without CAP_NET_ADMIN, which would destroy it).
 */
const HOLDING_STATES: readonly string[] = [
  "state",
  "established",
  "state",
  "close-wait",
];

/**
 * The `ss` filter for the connections of `localPort` to `peers`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { peerFilter } from "./socket_abort.ts";
 * assert.equal(
 *   peerFilter(8080, [{ transport: "tcp", hostname: "::1", port: 5 }]),
 *   "( sport = :8080 ) and ( dst [::1]:5 )",
 * );
 * ```
 */
export function peerFilter(
  localPort: number,
  peers: readonly Deno.NetAddr[],
): string {
  const each = peers.map(({ hostname, port }) =>
    `dst ${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`
  );
  return `( sport = :${localPort} ) and ( ${each.join(" or ")} )`;
}

/** The peers (`peerKey`) of the sockets listed in `ss -tnH state …` output. */
export function listedPeers(text: string): Set<string> {
  const found = new Set<string>();
  for (const line of text.split("\n")) {
    const peer = line.trim().split(/\s+/)[4];
    const parts = peer?.match(/^\[?(.+?)\]?:(\d+)$/);
    if (parts) found.add(peerKey(parts[1]!, Number(parts[2])));
  }
  return found;
}

/**
 * Aborts connections by peer while blocking the event loop: at a memory
 * incident, where a turn of the loop lets Deno collect more of the
 * attackers' fragments (`incident_suspects.ts`). Like
 * `SocketBytesReader.readSync`, with no deadline: Deno gives a synchronous
 * child none, and `ss` makes one netlink request per socket and exits.
 */
export interface SyncSocketAbort {
  /**
   * Aborts the connections to `peers`, `left` holding those the kernel did
   * not list as destroyed; never throws.
   */
  abortSync(peers: readonly Deno.NetAddr[]): AbortAnswer;
}

/** One `ss` run: its output, or why there is none. */
type Run = { stdout: string; stderr: string } | {
  unavailable: string;
  transient?: boolean;
};

/**
 * The `ss` runs that abort the connections of `localPort` to `peers`, in
 * order, as a generator that yields each run's arguments and is given its
 * {@link Run}: {@link SsSocketAbort.abort} drives it awaiting each run,
 * {@link SsSocketAbort.abortSync} blocking on each, so both follow one set
 * of rules. `ss -K` lists a socket once the kernel destroyed it, and stops
 * at the first it may not destroy (iproute2 `kill_inet_sock`); when it did
 * not list them all, what is still there is listed (a peer that left
 * meanwhile is gone too).
 */
function* abortRuns(
  localPort: number,
  peers: readonly Deno.NetAddr[],
): Generator<string[], AbortAnswer, Run> {
  const left = new Set<Deno.NetAddr>();
  let aborted = 0;
  let refused: string | undefined;
  for (let at = 0; at < peers.length; at += PEERS_PER_CALL) {
    const some = peers.slice(at, at + PEERS_PER_CALL);
    const filter = peerFilter(localPort, some);
    const killed = yield ["-K", "-tnH", ...HOLDING_STATES, filter];
    if ("unavailable" in killed) return killed;
    const gone = listedPeers(killed.stdout);
    // Refused, it may still list what it did not destroy: without
    // CAP_NET_ADMIN 50 sockets were all listed, 5 none (iproute2 here).
    const refusedNow = DESTROY_REFUSED.test(killed.stderr);
    if (refusedNow) refused = killed.stderr.slice(0, 200);
    if (!refusedNow && gone.size === some.length) {
      aborted += gone.size;
      continue;
    }
    const listed = yield ["-tnH", ...HOLDING_STATES, filter];
    if ("unavailable" in listed) return listed;
    const still = listedPeers(listed.stdout);
    for (const peer of some) {
      const key = peerKey(peer.hostname, peer.port);
      if (still.has(key)) left.add(peer);
      else if (gone.has(key)) aborted++;
    }
  }
  return { aborted, left, ...(refused ? { refused } : {}) };
}

/**
 * {@link SocketAbort} and {@link SyncSocketAbort} with `ss`, for the
 * listener on `localPort`.
 */
export class SsSocketAbort implements SocketAbort, SyncSocketAbort {
  readonly #port: number;
  readonly #program: string;
  readonly #reserve: DescriptorReserve | undefined;
  /** What the kernel said when it refused {@link abortSync}. */
  #refused: string | undefined;

  /**
   * @param options.command The program to run. @default "ss"
   * @param options.reserve Descriptors lent to each `ss` run
   * (`descriptor_reserve.ts`), so it runs when the process is out of them.
   */
  constructor(
    localPort: number,
    options: {
      command?: string;
      reserve?: DescriptorReserve | undefined;
    } = {},
  ) {
    this.#port = localPort;
    this.#program = options.command ?? "ss";
    this.#reserve = options.reserve;
  }

  async abort(peers: readonly Deno.NetAddr[]): Promise<AbortAnswer> {
    const runs = abortRuns(this.#port, peers);
    let step = runs.next();
    while (!step.done) step = runs.next(await this.#run(step.value));
    return step.value;
  }

  abortSync(peers: readonly Deno.NetAddr[]): AbortAnswer {
    // Refused once (no CAP_NET_ADMIN), refused for good: not asked again.
    // The loop is blocked for each run here, so it is not run again.
    if (this.#refused) return { unavailable: this.#refused };
    const runs = abortRuns(this.#port, peers);
    let step = runs.next();
    while (!step.done) step = runs.next(this.#runSync(step.value));
    const answer = step.value;
    if ("refused" in answer) this.#refused = answer.refused;
    return answer;
  }

  #runSync(args: string[]): Run {
    let output: Deno.CommandOutput;
    try {
      const command = this.#command(args);
      output = this.#reserve
        ? this.#reserve.lend(() => command.outputSync())
        : command.outputSync();
    } catch (error) {
      return { unavailable: `${this.#program}: ${String(error)}` };
    }
    return this.#said(output);
  }

  async #run(args: string[]): Promise<Run> {
    try {
      const command = this.#command(
        args,
        AbortSignal.timeout(SOCKET_ABORT_TIMEOUT_MS),
      );
      return this.#said(
        await (this.#reserve
          ? this.#reserve.lendAwaited(() => command.output())
          : command.output()),
      );
    } catch (error) {
      const name = (error as Error)?.name;
      return {
        unavailable: `${this.#program}: ${(error as Error)?.message ?? error}`,
        ...(name === "TimeoutError" || name === "AbortError"
          ? { transient: true }
          : {}),
      };
    }
  }

  /** A run's output, or why it is none (failed, or no netlink). */
  #said(output: Deno.CommandOutput): Run {
    const stderr = new TextDecoder().decode(output.stderr).trim();
    if (!output.success || NO_SOCKET_DIAG.test(stderr)) {
      return {
        unavailable: `${this.#program} exited with ${output.code}: ${
          stderr.slice(0, 200)
        }`,
      };
    }
    return { stdout: new TextDecoder().decode(output.stdout), stderr };
  }

  #command(args: string[], signal?: AbortSignal) {
    return new Deno.Command(this.#program, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      ...(signal ? { signal } : {}),
    });
  }
}
