/**
 * What the kernel counted on each TCP connection of the listener: the bytes
 * the process has read from it, read from `ss` (iproute2) at an overload
 * incident. Deno reads frames the app never sees (the fragments of an
 * unfinished message, pongs, empty frames), so these bytes minus the
 * payload the app counted are what the app never saw
 * (`overload_attribution.ts`).
 *
 * `ss -tinH state established '( sport = :PORT )'` prints per socket a line
 * `Recv-Q Send-Q LOCAL PEER`, then an indented line of `tcp_info` fields
 * with `bytes_received:N` (the kernel's count of bytes received in order,
 * RFC 4898 `tcpEStatsAppHCThruOctetsReceived`; absent while 0) and
 * `lastrcv:N` (ms since data last came from the peer); Recv-Q is what still
 * waits for the process to read. A peer with bytes in Recv-Q or data within
 * {@link SENDING_MS} is still sending: an honest message in flight may yet
 * complete, while an attacker holding an endless message has sent it and
 * gone quiet (`overload_attribution.ts`). One call took 20 ms with a
 * couple of sockets open (2 cores, load average 0.2), 380 ms at load
 * average 30; with 9,900 open, `ss` ran 0.4-1.4 s and its 3.5-5.3 MB were
 * parsed in 0.2-0.8 s (load average 15-18, `deno run -A
 * bench/socket_bytes_cost.ts`). `read()` parses the output as it comes,
 * one piece at a time, and can keep only the peers past a count: Deno's
 * collected output of 10,000 sockets is 3.6 MB held outside the JS heap
 * until a collection (20 readings: +52 MiB of RSS, the heap flat), and
 * the parse's objects of each reading went to the old generation
 * (+78 MiB with both). Nothing is read per message: the app's
 * side is the payload count each connection keeps anyway. Where `ss`
 * cannot run (not Linux, no iproute2, Deno Deploy, no `run` permission for
 * it, past its deadline) the reading says why and the watch judges by
 * timing alone.
 *
 * @module
 */
import * as z from "zod/mini";
import type { DescriptorReserve } from "./descriptor_reserve.ts";

/**
 * How long `ss` may take before the reading gives up, in ms: with 9,900
 * connections open it ran 0.4-1.4 s at load average 16-18.
 */
export const SOCKET_BYTES_TIMEOUT_MS = 2000;

/**
 * The piece of `ss` output read and parsed at a time, in bytes: Deno's
 * own chunk for a child's pipe, about 180 sockets.
 */
export const READ_CHUNK_BYTES = 64 * 1024;

/**
 * How recently a peer must have sent data to be still sending, in ms
 * (`lastrcv`): a client writing a message on loopback sent within 0-50 ms
 * at every reading, the split attacker's 32 connections 5.0-5.4 s after
 * their last fragment (`ss -tinH`, load average 2).
 */
export const SENDING_MS = 500;

/**
 * What `ss` writes to stderr when it cannot open the kernel's socket
 * diagnostics (no AF_NETLINK: systemd's `RestrictAddressFamilies=` without
 * it, a seccomp filter). It then reads `/proc/net/tcp` instead and exits 0:
 * every socket listed with no `bytes_received` (read as 0: nobody struck on
 * the count), and `-K` lists the sockets it was asked for while destroying
 * none (iproute2 6.x; `strace -e trace=socket -e
 * inject=socket:error=EAFNOSUPPORT ss -K ...`). So that output is no
 * reading and no abort.
 */
export const NO_SOCKET_DIAG = /Cannot open netlink socket/;

/**
 * What a reading that failed for want of descriptors says (EMFILE,
 * ENFILE: "Too many open files", "... in system"): the process's own
 * shortage, not the clients' doing. With no count then, the watch strikes
 * nobody rather than judge by timing (`incident_suspects.ts`).
 */
export const OUT_OF_DESCRIPTORS = /Too many open files/;

/**
 * What `ss -K` writes to stderr when the kernel refuses to destroy a
 * socket (no CAP_NET_ADMIN: "SOCK_DESTROY answers: Operation not
 * permitted"): the sockets stay (`socket_abort.ts`, `watchdog_thread.ts`).
 */
export const DESTROY_REFUSED = /SOCK_DESTROY|not permitted/i;

/** Bytes the process has read per TCP peer ({@link peerKey}). */
export type PeerBytes = Map<string, number>;

/** One reading: what each peer's connection brought, and who still sends. */
export interface SocketCounts {
  bytes: PeerBytes;
  /**
   * The peers ({@link peerKey}) with data waiting in Recv-Q or sent within
   * {@link SENDING_MS}.
   */
  sending: Set<string>;
  /**
   * Every peer's Send-Q and `bytes_acked`, when asked for
   * (`SocketBytesReader.read`'s `queues`): what `peer_acks.ts` reads.
   */
  queues?: Map<string, SendQueue>;
}

/** One socket's unacknowledged bytes and bytes acknowledged, from `ss`. */
export interface SendQueue {
  /** Send-Q: bytes written that the peer has not acknowledged. */
  sendQ: number;
  /** `bytes_acked`: bytes the peer acknowledged since the connection began. */
  acked: number;
}

/**
 * A reading (`sending` unknown: none; `parseMs`: how long its parse held
 * the event loop, in ms, where measured), or why there is none.
 */
export type SocketBytesReading =
  | {
    bytes: PeerBytes;
    sending?: ReadonlySet<string>;
    queues?: ReadonlyMap<string, SendQueue>;
    parseMs?: number;
  }
  | { unavailable: string };

/**
 * One connection's peer as a map key: the host in lower case, without the
 * brackets `ss` puts around IPv6, the `::ffff:` of an IPv4-mapped address,
 * or a zone (`%lo`), then `:` and the port.
 *
 * @example Deno's and `ss`'s forms of one peer meet
 * ```ts
 * import assert from "node:assert/strict";
 * import { peerKey } from "./socket_bytes.ts";
 * assert.equal(peerKey("::ffff:127.0.0.1", 5000), "127.0.0.1:5000");
 * assert.equal(peerKey("[::1]", 5000), "::1:5000");
 * ```
 */
export function peerKey(hostname: string, port: number): string {
  const host = hostname.replace(/^\[|\]$/g, "").replace(/%.*$/, "")
    .toLowerCase().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, "");
  return `${host}:${port}`;
}

/**
 * The counts read from one reading, checked at once (one check per socket
 * cost a second of a cold start's CPU at 10,000 sockets). Built on the
 * first reading, not at import: its zod schemas were 3-5 ms of the CPU to
 * the first echo, which reads none (`--cpu-prof`, 7 starts, load 20).
 */
function countsSchema() {
  return z.array(
    z.tuple([
      z.int().check(z.nonnegative()),
      z.int().check(z.nonnegative(), z.lte(65535)),
      z.int().check(z.nonnegative()),
      z.int().check(z.nonnegative()),
    ]),
  );
}

let counts: ReturnType<typeof countsSchema> | undefined;

/** One socket of `ss -tinH state established` output, as {@link ssSockets} read it. */
export interface SsSocket {
  /** The peer's host without brackets; undefined when the peer is not `host:port`. */
  host: string | undefined;
  /**
   * With no host, the socket's line (`Recv-Q Send-Q LOCAL PEER`), for the
   * error; taken only then (a capture of every line cost 0.9 µs a socket).
   */
  line?: string;
  /** The peer's port (NaN with no host). */
  port: number;
  /** Bytes waiting for the process to read (NaN when not a number). */
  recvQ: number;
  /**
   * Bytes the process wrote that the peer has not acknowledged: Send-Q
   * (NaN when not a number). It stays full while the peer does not read.
   */
  sendQ: number;
  /** `bytes_received`, 0 when absent (the kernel leaves it out while 0). */
  received: number;
  /**
   * `bytes_acked`: bytes of the process's the peer's kernel acknowledged
   * (RFC 4898 `tcpEStatsAppSndUna` less the initial sequence), 0 when
   * absent. It stops growing once the peer's receive buffer is full
   * (`peer_acks.ts`).
   */
  acked: number;
  /** `lastrcv` in ms, undefined when absent. */
  lastReceived: number | undefined;
}

/**
 * The sockets of `ss -tinH state established` output, fields as the text
 * gives them, unchecked: per socket a line `Recv-Q Send-Q LOCAL PEER` (no
 * State column under a state filter), then its indented `tcp_info` line,
 * if any. The one reader of that output: {@link parseSocketBytes} checks
 * its rows with zod, and the RSS watchdog thread, which runs from source
 * text and can import nothing (`watchdog_thread.ts`), is given it as text
 * and checks the integers itself. So it is self-contained: no import and
 * no outer name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ssSockets } from "./socket_bytes.ts";
 * const text = "4 13 [::1]:8080 [::1]:40001\n" +
 *   "\t cubic bytes_acked:9 bytes_received:195 lastrcv:5100\n" +
 *   "0 0 127.0.0.1:8080 nonsense\n";
 * const [ipv6, bad] = ssSockets(text);
 * assert.deepEqual(ipv6, {
 *   host: "::1",
 *   port: 40001,
 *   recvQ: 4,
 *   sendQ: 13,
 *   received: 195,
 *   acked: 9,
 *   lastReceived: 5100,
 * });
 * assert.equal(bad!.host, undefined);
 * assert.equal(bad!.line, "0 0 127.0.0.1:8080 nonsense");
 * ```
 */
export function ssSockets(text: string): SsSocket[] {
  const socket =
    /^(\S+)[ \t]+(\S+)[ \t]+\S+[ \t]+(\S+)[^\n]*(?:\n([ \t][^\n]*))?/gm;
  const address = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/;
  const receivedField = /\bbytes_received:(\d+)/;
  const ackedField = /\bbytes_acked:(\d+)/;
  const lastReceivedField = /\blastrcv:(\d+)/;
  const sockets: SsSocket[] = [];
  for (const found of text.matchAll(socket)) {
    const peer = address.exec(found[3]!);
    const info = found[4] ?? "";
    const last = lastReceivedField.exec(info)?.[1];
    sockets.push({
      host: peer ? peer[1] ?? peer[2] : undefined,
      port: Number(peer?.[3]),
      recvQ: Number(found[1]),
      sendQ: Number(found[2]),
      received: Number(receivedField.exec(info)?.[1] ?? 0),
      acked: Number(ackedField.exec(info)?.[1] ?? 0),
      lastReceived: last === undefined ? undefined : Number(last),
      ...(peer ? {} : { line: found[0].split("\n")[0]!.trim() }),
    });
  }
  return sockets;
}

/**
 * Parses `ss -tinH state established` output into the bytes the process
 * has read per peer (`bytes_received` minus Recv-Q), and the peers still
 * sending (Recv-Q, or `lastrcv` under {@link SENDING_MS}; none without
 * `lastrcv`). 10,000 sockets (3.5 MB of output) take about 100 ms.
 * Only the peers that brought at least `atLeastBytes` are kept (and their
 * rows checked): the kernel-count check asks only for those that could be
 * past its line.
 *
 * @throws {TypeError} `Cannot parse ss output "LINE": ...` for a socket
 * line that does not have the expected fields.
 * @example Two sockets, one that never received
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSocketBytes } from "./socket_bytes.ts";
 * const text = "0 13 127.0.0.1:8080 127.0.0.2:40000\n" +
 *   "\t cubic bytes_sent:179 bytes_received:195 lastrcv:5100\n" +
 *   "5 0 [::1]:8080 [::1]:40001\n\t cubic bytes_acked:1\n";
 * const { bytes, sending } = parseSocketBytes(text);
 * assert.deepEqual([...bytes], [["127.0.0.2:40000", 195], ["::1:40001", 0]]);
 * assert.deepEqual([...sending], ["::1:40001"]);
 * assert.deepEqual([...parseSocketBytes(text, 100).bytes.keys()], [
 *   "127.0.0.2:40000",
 * ]);
 * ```
 */
export function parseSocketBytes(
  text: string,
  atLeastBytes = 0,
  queues = false,
): SocketCounts {
  const found: SocketCounts = {
    bytes: new Map(),
    sending: new Set(),
    ...(queues ? { queues: new Map() } : {}),
  };
  addSocketCounts(found, text, atLeastBytes);
  return found;
}

/** {@link parseSocketBytes} into `found`, for one piece of a streamed reading. */
function addSocketCounts(
  found: SocketCounts,
  text: string,
  atLeastBytes: number,
): void {
  const hosts: string[] = [];
  const fields: Array<[number, number, number, number]> = [];
  for (const socket of ssSockets(text)) {
    if (socket.host === undefined) {
      throw new TypeError(
        `Cannot parse ss output "${socket.line}": expected Recv-Q, Send-Q, local and peer address:port`,
      );
    }
    if (
      found.queues && Number.isInteger(socket.sendQ) &&
      Number.isInteger(socket.acked)
    ) {
      found.queues.set(peerKey(socket.host, socket.port), {
        sendQ: socket.sendQ,
        acked: socket.acked,
      });
    }
    // Left out before the check, which then costs nothing for most
    // sockets; a count that is no number (NaN) is kept, and refused below.
    if (Math.max(0, socket.received - socket.recvQ) < atLeastBytes) continue;
    hosts.push(socket.host);
    fields.push([
      socket.recvQ,
      socket.port,
      socket.received,
      // No `lastrcv`: nothing known of it, so it counts as quiet.
      socket.lastReceived ?? Number.MAX_SAFE_INTEGER,
    ]);
  }
  const checked = (counts ??= countsSchema()).safeParse(fields);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    const at = Number(issue.path[0]);
    throw new TypeError(
      `Cannot parse ss output for peer "${hosts[at]}": ${issue.message}`,
    );
  }
  checked.data.forEach(([recvQ, port, received, lastReceived], at) => {
    const peer = peerKey(hosts[at]!, port);
    found.bytes.set(peer, Math.max(0, received - recvQ));
    if (recvQ > 0 || lastReceived < SENDING_MS) found.sending.add(peer);
  });
}

/**
 * Where the last complete socket of streamed `ss` output ends: after the
 * last newline that starts a socket line (a socket's `tcp_info` line is
 * indented, so a socket is complete once the next one starts); 0 when none
 * is complete yet.
 */
function completeSockets(text: string): number {
  for (let at = text.lastIndexOf("\n", text.length - 2); at >= 0; at--) {
    at = text.lastIndexOf("\n", at);
    if (at < 0) break;
    const next = text[at + 1];
    if (next !== undefined && next !== " " && next !== "\t") return at + 1;
  }
  return 0;
}

/**
 * Whether the kernel's count can be read here: `"ss"`, or why not, for the
 * start-up record (`kernel_counts=`). Asked of Deno's permissions, without
 * running anything: under the tasks' permission set (`run: ["ss"]`) Deno
 * looks `ss` up on `PATH` at start-up and, when it is not there, grants
 * nothing (`prompt`), quietly under `-q` (the tasks; without `-q` Deno
 * prints `Info Failed to resolve 'ss' for allow-run`). Under `--allow-all`
 * everything is granted, so a missing `ss` shows only in an incident's
 * `kernel=` field.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kernelCounts } from "./socket_bytes.ts";
 * assert.equal(kernelCounts(() => "granted"), "ss");
 * assert.match(kernelCounts(() => "prompt"), /^off: /);
 * assert.match(kernelCounts(() => { throw new TypeError("no such kind"); }), /^off: /);
 * ```
 */
export function kernelCounts(
  query: () => Deno.PermissionState = () =>
    Deno.permissions.querySync({ name: "run", command: "ss" }).state,
): string {
  let granted = false;
  try {
    granted = query() === "granted";
  } catch {
    // A runtime without the permission API (or the `run` kind) runs nothing.
  }
  return granted
    ? "ss"
    : "off: ss (iproute2) is not on PATH or not permitted, so the overload watch judges attackers by timing alone";
}

/** Options for {@link SocketBytesReader}. */
export interface SocketBytesOptions {
  /** For {@link SocketBytesReader.read}. @default SOCKET_BYTES_TIMEOUT_MS */
  timeoutMs?: number;
  /** The program to run. @default "ss" */
  command?: string;
  /**
   * Descriptors lent to each `ss` run (`descriptor_reserve.ts`), so it
   * runs when the process is out of them; none: it fails then.
   */
  reserve?: DescriptorReserve | undefined;
}

/**
 * Reads what the process has read on each established connection of the
 * listener on `localPort` (any local address). Never throws: a reading
 * that cannot be made says why (`ss` missing, not permitted, failed, too
 * slow, or its output unreadable).
 *
 * @example Where `ss` cannot run, the reading says why
 * ```ts
 * import assert from "node:assert/strict";
 * import { SocketBytesReader } from "./socket_bytes.ts";
 * const reader = new SocketBytesReader(8080, { command: "no-such-program" });
 * const reading = await reader.read();
 * assert.ok("unavailable" in reading);
 * ```
 */
export class SocketBytesReader {
  readonly #port: number;
  readonly #timeoutMs: number;
  readonly #program: string;
  readonly #reserve: DescriptorReserve | undefined;

  constructor(localPort: number, options: SocketBytesOptions = {}) {
    this.#port = localPort;
    this.#timeoutMs = options.timeoutMs ?? SOCKET_BYTES_TIMEOUT_MS;
    this.#program = options.command ?? "ss";
    this.#reserve = options.reserve;
  }

  /**
   * Runs `ss` and parses its output as it comes, one
   * {@link READ_CHUNK_BYTES} piece at a time into one buffer, at most the
   * timeout; `signal` stops it sooner (a check that is disposed: the child
   * is then no op left over). Only the peers that brought at least
   * `atLeastBytes` are kept (the kernel-count check needs no other). So a
   * reading's memory is one piece and the peers kept, whatever the count
   * of sockets, and the event loop is held one piece's parse at a time.
   * `timeoutMs`: this reading's deadline, for a caller that can wait
   * longer than the reader's. `queues`: every peer's Send-Q and
   * `bytes_acked` too (`SocketCounts.queues`).
   */
  async read(
    signal?: AbortSignal,
    options: { atLeastBytes?: number; timeoutMs?: number; queues?: boolean } =
      {},
  ): Promise<SocketBytesReading> {
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const command = this.#command(
      signal ? AbortSignal.any([timeout, signal]) : timeout,
    );
    const run = () =>
      this.#stream(command.spawn(), {
        atLeastBytes: options.atLeastBytes ?? 0,
        timeoutMs,
        queues: options.queues ?? false,
      });
    try {
      return await (this.#reserve ? this.#reserve.lendAwaited(run) : run());
    } catch (error) {
      return this.#failed(error);
    }
  }

  /**
   * Runs `ss` and blocks the event loop until it ends, for when a turn of
   * the loop costs more than the wait: Deno spends a turn collecting the
   * fragments of an endless message. A synchronous child cannot be given a
   * deadline in Deno; `ss` makes one netlink dump of the kernel's table,
   * filtered in the kernel to the listener's port, and exits.
   * `atLeastBytes` and `queues` as for {@link read}.
   */
  readSync(
    options: { atLeastBytes?: number; queues?: boolean } = {},
  ): SocketBytesReading {
    const command = this.#command();
    try {
      return this.#parse(
        this.#reserve
          ? this.#reserve.lend(() => command.outputSync())
          : command.outputSync(),
        options,
      );
    } catch (error) {
      return this.#failed(error);
    }
  }

  #command(signal?: AbortSignal): Deno.Command {
    return new Deno.Command(this.#program, {
      args: ["-tinH", "state", "established", `( sport = :${this.#port} )`],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      ...(signal ? { signal } : {}),
    });
  }

  /**
   * Reads `child`'s output piece by piece, parsing each socket once it is
   * complete. Deno's `output()` collects it whole: at 10,000 sockets (3.6
   * MB) 20 readings took a process holding them from 65 to 117 MiB with
   * its JS heap flat, and the parse on the whole text to 143 MiB.
   */
  async #stream(
    child: Deno.ChildProcess,
    { atLeastBytes, timeoutMs, queues }: {
      atLeastBytes: number;
      timeoutMs: number;
      queues: boolean;
    },
  ): Promise<SocketBytesReading> {
    const said = new Response(child.stderr).text();
    const found: SocketCounts = {
      bytes: new Map(),
      sending: new Set(),
      ...(queues ? { queues: new Map() } : {}),
    };
    const reader = child.stdout.getReader({ mode: "byob" });
    const decoder = new TextDecoder();
    let buffer = new Uint8Array(READ_CHUNK_BYTES);
    let pending = "";
    let parseMs = 0;
    let unreadable: unknown;
    try {
      for (;;) {
        const { value, done } = await reader.read(buffer);
        const started = performance.now();
        pending += decoder.decode(value, { stream: !done });
        const end = done ? pending.length : completeSockets(pending);
        addSocketCounts(found, pending.slice(0, end), atLeastBytes);
        pending = pending.slice(end);
        parseMs += performance.now() - started;
        if (done) break;
        buffer = new Uint8Array(value.buffer);
      }
    } catch (error) {
      unreadable = error;
      try {
        child.kill();
      } catch {
        // It had ended.
      }
      await reader.cancel().catch(() => {});
    }
    const status = await child.status;
    const failed = this.#judge(status, (await said).trim(), {
      timeoutMs,
      killedHere: !!unreadable,
    });
    if (failed) return failed;
    if (unreadable) throw unreadable;
    return { ...found, parseMs };
  }

  /**
   * Why a run of `ss` is no reading (stopped, failed, no netlink), or
   * undefined: its output is the reading. `killedHere`: this reader
   * ended it (its output was unreadable), so how it ended says nothing.
   */
  #judge(
    status: Deno.CommandStatus,
    said: string,
    { timeoutMs = this.#timeoutMs, killedHere = false } = {},
  ): { unavailable: string } | undefined {
    const program = this.#program;
    if (killedHere) {
      // How it ended is this reader's doing.
    } else if (status.signal === "SIGTERM" || status.signal === "SIGKILL") {
      return { unavailable: `${program} stopped after ${timeoutMs} ms` };
    } else if (!status.success) {
      return {
        unavailable: `${program} exited with ${status.code}: ${
          said.slice(0, 200)
        }`,
      };
    }
    if (NO_SOCKET_DIAG.test(said)) {
      return { unavailable: `${program}: ${said.slice(0, 200)}` };
    }
    return undefined;
  }

  #parse(
    output: Deno.CommandOutput,
    { atLeastBytes = 0, queues = false }: {
      atLeastBytes?: number;
      queues?: boolean;
    },
  ): SocketBytesReading {
    const failed = this.#judge(
      output,
      new TextDecoder().decode(output.stderr).trim(),
    );
    if (failed) return failed;
    const started = performance.now();
    const counts = parseSocketBytes(
      new TextDecoder().decode(output.stdout),
      atLeastBytes,
      queues,
    );
    return { ...counts, parseMs: performance.now() - started };
  }

  #failed(error: unknown): SocketBytesReading {
    return {
      unavailable: `${this.#program}: ${(error as Error)?.message ?? error}`,
    };
  }
}
