/**
 * The periodic kernel-count check (`lib/start/kernel_count_check.ts`): one
 * endless fragmented message sent slowly (64 KiB every 50 ms, ~1.3 MB/s)
 * never trips the overload watch, so without the check it is never closed
 * (an attack review). With it the connection is closed 1009 once what it sent
 * passes MAX_MESSAGE_BYTES (set small here) plus its allowance, within
 * the check's period plus a margin, its address is struck and its third
 * try refused; a bystander keeps echoing and an honest client sending
 * messages under MAX_MESSAGE_BYTES just as slowly is never closed. Real
 * sockets, the start task's flags.
 *
 * @module
 */
import assert from "node:assert/strict";
import type net from "node:net";
import { type Opened, openFrom } from "../../bench/overload_attacks.ts";
import { clientFrame, closeCode, FrameReader } from "../../bench/wire.ts";
import { until } from "../_client.ts";
import {
  CHECK_EVERY_MS,
  CLOSE_GRACE_MS,
  KernelCountCheck,
  messagesTooBig,
} from "../../lib/start/kernel_count_check.ts";
import type { SocketBytesReading } from "../../lib/start/socket_bytes.ts";
import type { AbortAnswer } from "../../lib/connection/held_sockets.ts";
import type { CloseReason } from "../../lib/protocol/close_codes.ts";
import { ConnectionRegistry } from "../../lib/admission/slots.ts";
import { SuspectList } from "../../lib/admission/suspects.ts";
import { Metrics } from "../../lib/metrics.ts";
import { DEFAULT_CONFIG } from "../../lib/config.ts";
import { UNSEEN_ALLOWANCE } from "../../lib/start/overload_attribution.ts";
import {
  ATTACKER,
  attackTwice,
  CAN_ABORT,
  FIRST_ECHO_MS,
  hasSs,
  type LogRecord,
  serviceEvidence,
  startAttacked,
} from "./_overload.ts";

/** MAX_MESSAGE_BYTES here: small, so the trickle passes it within a second. */
const MAX_MESSAGE_BYTES = 64 * 1024;
/** The trickle's fragments, and how often one is sent. */
const FRAGMENT_BYTES = 64 * 1024;
const FRAGMENT_EVERY_MS = 50;
/**
 * What the trickle may send before it must have been closed: the line
 * (one message in flight plus the allowance), then the check's period and
 * 10 s more of fragments (a margin for a loaded machine).
 */
const TRICKLE_BUDGET_BYTES = MAX_MESSAGE_BYTES + UNSEEN_ALLOWANCE.bytes +
  (CHECK_EVERY_MS + CLOSE_GRACE_MS + 10_000) / FRAGMENT_EVERY_MS *
    FRAGMENT_BYTES;
/** The honest client: from another /24 than the attacker's. */
const HONEST = "127.0.9.9";
/**
 * Its messages, each under MAX_MESSAGE_BYTES, in 6,000-byte fragments
 * every 20 ms: together more than the line, so a check that forgot the
 * messages the app saw would close it.
 */
const HONEST_MESSAGE_BYTES = 60_000;
const HONEST_MESSAGES = 24;

/** What the server sent on a raw connection, and whether it ended it. */
function watchFrames(socket: net.Socket) {
  const seen = { closeCode: 0, echoes: 0, ended: false };
  const reader = new FrameReader((opcode, payload) => {
    if (opcode === 0x8) seen.closeCode ||= closeCode(payload);
    else if (opcode === 0x2) seen.echoes++;
  });
  socket.on("data", (chunk: Uint8Array) => reader.push(chunk));
  socket.on("close", () => seen.ended = true);
  socket.on("error", () => {});
  socket.resume();
  return seen;
}

/** Writes `frame`; false once the socket is gone. */
function send(socket: net.Socket, frame: Uint8Array): boolean {
  if (socket.destroyed) return false;
  socket.write(frame);
  return true;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One endless binary message from `address`: 64 KiB fragments every 50
 * ms, never finished, until the server ends the connection or the budget
 * is spent. Keeps sending after a Close, as an attacker does.
 */
async function trickle(port: number, address: string) {
  const opened: Opened = await openFrom(port, address);
  if (opened.status !== 101) {
    opened.socket.destroy();
    return { status: opened.status, closeCode: 0, cut: false, sentBytes: 0 };
  }
  const { socket } = opened;
  const seen = watchFrames(socket);
  const fragment = new Uint8Array(FRAGMENT_BYTES);
  let sentBytes = 0;
  let opcode = 0x2;
  while (sentBytes < TRICKLE_BUDGET_BYTES && !seen.ended) {
    if (!send(socket, clientFrame(opcode, fragment, false))) break;
    opcode = 0x0;
    sentBytes += FRAGMENT_BYTES;
    await pause(FRAGMENT_EVERY_MS);
  }
  const cut = seen.ended || socket.destroyed;
  socket.destroy();
  return { status: 101, closeCode: seen.closeCode, cut, sentBytes };
}

/**
 * The honest client: {@link HONEST_MESSAGES} binary messages of
 * {@link HONEST_MESSAGE_BYTES}, each sent slowly in fragments and its echo
 * awaited (30 s at most) before the next.
 */
async function honestSender(port: number) {
  // A fresh service's first upgrades, before any attack: no bound of the
  // service's (5 s timed out once with the service stopped 400 ms in every
  // 500 at load 31, and the rejection went uncaught).
  const opened = await openFrom(port, HONEST, { timeoutMs: FIRST_ECHO_MS });
  assert.equal(opened.status, 101, "the honest client is upgraded");
  const { socket } = opened;
  const seen = watchFrames(socket);
  const fragment = new Uint8Array(6000);
  try {
    for (let message = 1; message <= HONEST_MESSAGES; message++) {
      for (let at = 0; at < HONEST_MESSAGE_BYTES; at += fragment.length) {
        const last = at + fragment.length >= HONEST_MESSAGE_BYTES;
        send(socket, clientFrame(at === 0 ? 0x2 : 0x0, fragment, last));
        await pause(20);
      }
      await until(
        () => seen.echoes >= message || seen.ended,
        `the honest client's echo ${message}`,
        { timeoutMs: 30_000 },
      );
      if (seen.ended) break;
    }
    return { ...seen };
  } finally {
    socket.destroy();
  }
}

Deno.test("messagesTooBig() judges what the kernel counted against the messages the app saw", async (t) => {
  const peer = (port: number) => ({
    transport: "tcp" as const,
    hostname: "::ffff:127.0.0.2",
    port,
  });
  const connection = (
    port: number,
    seen: { messages: number; bytesIn: number },
    more: { startedAt?: number; closingSince?: number } = {},
  ) => ({
    close() {},
    activity: () => ({
      opened: true,
      startedAt: more.startedAt ?? 0,
      lastMessageAt: 0,
      closingSince: more.closingSince,
      sent: seen.messages,
      ...seen,
      peer: peer(port),
    }),
  });
  const line = MAX_MESSAGE_BYTES + UNSEEN_ALLOWANCE.bytes;
  const judge = (
    connections: Array<[ReturnType<typeof connection>, string]>,
    bytes: Array<[string, number]>,
  ) =>
    messagesTooBig(connections, { bytes: new Map(bytes), at: 0 }, {
      maxMessageBytes: MAX_MESSAGE_BYTES,
      now: 0,
    }).map((found) => found.connection);
  await t.step("an unfinished message past the line is found", () => {
    const trickler = connection(1, { messages: 0, bytesIn: 0 });
    assert.deepEqual(
      judge([[trickler, "127.0.0.2"]], [["127.0.0.2:1", line + 1]]),
      [trickler],
    );
  });
  await t.step("one message in flight under the line is not", () => {
    const sender = connection(1, { messages: 0, bytesIn: 0 });
    assert.deepEqual(
      judge([[sender, "127.0.0.2"]], [["127.0.0.2:1", line]]),
      [],
    );
  });
  await t.step(
    "many complete messages far past the line, one more in flight: not",
    () => {
      const honest = connection(1, { messages: 100, bytesIn: 100 * 60_000 });
      const counted = 101 * 60_000 + 100 * UNSEEN_ALLOWANCE.perMessage;
      assert.deepEqual(
        judge([[honest, "127.0.0.2"]], [["127.0.0.2:1", counted]]),
        [],
      );
    },
  );
  await t.step(
    "opened after the reading began, or not in it: not judged",
    () => {
      const young = connection(1, { messages: 0, bytesIn: 0 }, {
        startedAt: 1,
      });
      const missing = connection(2, { messages: 0, bytesIn: 0 });
      assert.deepEqual(
        judge([[young, "127.0.0.2"], [missing, "127.0.0.2"]], [[
          "127.0.0.2:1",
          line * 4,
        ]]),
        [],
      );
    },
  );
  await t.step(
    "sent faster than the overload watch's line: left to the watch",
    () => {
      const flood = connection(1, { messages: 0, bytesIn: 0 }, {
        startedAt: -1000,
      });
      const judged = (watchFromBytesPerSecond: number) =>
        messagesTooBig(
          [[flood, "127.0.0.2"]],
          { bytes: new Map([["127.0.0.2:1", 8 * line]]), at: 0 },
          {
            maxMessageBytes: MAX_MESSAGE_BYTES,
            now: 0,
            watchFromBytesPerSecond,
          },
        ).length;
      assert.equal(judged(8 * line), 0);
      assert.equal(judged(8 * line + 1), 1);
    },
  );
  await t.step("closing by this service: two messages in flight", () => {
    const closing = connection(1, { messages: 0, bytesIn: 0 }, {
      closingSince: 0,
    });
    assert.deepEqual(
      judge([[closing, "127.0.0.2"]], [[
        "127.0.0.2:1",
        line + MAX_MESSAGE_BYTES,
      ]]),
      [],
    );
  });
});

/**
 * A check over one fake connection from 127.0.0.2 that the kernel counted
 * past the line, with `read` and `abort` standing in for `ss` and `ss -K`,
 * reading every 5 ms and aborting 5 ms after its close.
 */
function checkedTrickle(
  read: (options?: { atLeastBytes?: number }) => SocketBytesReading,
  abort: (peers: readonly Deno.NetAddr[]) => AbortAnswer,
) {
  const registry = new ConnectionRegistry({ maxPerIp: 0, maxTotal: 0 });
  const suspects = new SuspectList();
  const metrics = new Metrics();
  const lines: LogRecord[] = [];
  const closes: CloseReason[] = [];
  const aborted: Deno.NetAddr[][] = [];
  const peer = { transport: "tcp" as const, hostname: "127.0.0.2", port: 5 };
  const connection = {
    close: (reason: CloseReason) => void closes.push(reason),
    activity: () => ({
      opened: true,
      startedAt: Date.now() - 10_000,
      lastMessageAt: 0,
      closingSince: undefined,
      messages: 0,
      sent: 0,
      bytesIn: 0,
      peer,
    }),
  };
  registry.track(connection, "127.0.0.2");
  const check = new KernelCountCheck({
    config: { ...DEFAULT_CONFIG, maxMessageBytes: MAX_MESSAGE_BYTES },
    registry,
    suspects,
    metrics,
    log: (record) => void lines.push(record),
  }, {
    socketBytes: {
      read: (_signal, options) => Promise.resolve(read(options)),
    },
    socketAbort: {
      abort: (peers) => {
        aborted.push([...peers]);
        return Promise.resolve(abort(peers));
      },
    },
    everyMs: 5,
    graceMs: 5,
  });
  return {
    registry,
    suspects,
    metrics,
    lines,
    closes,
    aborted,
    connection,
    check,
  };
}

Deno.test("KernelCountCheck closes 1009, strikes, counts, aborts and logs; says when it could not abort or read", async (t) => {
  const past = (): SocketBytesReading => ({
    bytes: new Map([["127.0.0.2:5", 3 * 1024 * 1024]]),
  });
  await t.step(
    "where the kernel refuses to destroy sockets (no CAP_NET_ADMIN): closed 1009 and struck, the line says the abort was refused",
    async () => {
      const checked = checkedTrickle(past, (peers) => ({
        aborted: 0,
        left: new Set(peers),
        refused: "SOCK_DESTROY answers: Operation not permitted",
      }));
      try {
        await until(() => checked.lines.length > 0, "the message_too_big line");
        const [line] = checked.lines;
        assert.equal(line!.event, "message_too_big");
        assert.equal(line!.ip, "127.0.0.2");
        assert.equal(
          line!.aborted,
          "no: SOCK_DESTROY answers: Operation not permitted",
        );
        assert.equal(line!.strikes, 1);
        assert.deepEqual(checked.closes.map((close) => close.code), [1009]);
        assert.match(checked.closes[0]!.reason, /^message too big/);
        assert.equal(checked.aborted.length, 1);
        assert.equal(checked.metrics.kernelCheckCloses, 1);
        assert.equal(checked.metrics.breaches.get("message_size"), 1);
        assert.equal(checked.suspects.struckBefore("127.0.0.2"), true);
      } finally {
        await checked.check.dispose();
      }
    },
  );
  await t.step(
    "a connection gone within the grace is not aborted",
    async () => {
      const checked = checkedTrickle(past, () => {
        throw new Error("aborted a connection that was gone");
      });
      const close = checked.connection.close;
      checked.connection.close = (reason) => {
        close(reason);
        checked.registry.untrack(checked.connection);
      };
      try {
        await until(() => checked.lines.length > 0, "the message_too_big line");
        assert.equal(checked.lines[0]!.aborted, "gone before");
        assert.equal(checked.aborted.length, 0);
      } finally {
        await checked.check.dispose();
      }
    },
  );
  await t.step(
    "with 1,000 other WebSockets open: it still reads, asking only for counts past one message and the allowance, and the trickle is closed",
    async () => {
      const asked: Array<{ atLeastBytes?: number } | undefined> = [];
      const checked = checkedTrickle(
        (options) => {
          asked.push(options);
          return past();
        },
        () => ({ aborted: 0, left: new Set() }),
      );
      for (let i = 0; i < 1000; i++) {
        checked.registry.track({ close() {} }, `127.1.${i >> 8}.${i & 255}`);
      }
      try {
        assert.equal(checked.registry.openCount, 1001);
        await until(
          () => checked.lines.some((line) => line.event === "message_too_big"),
          "the message_too_big line",
        );
        assert.deepEqual(checked.closes.map((close) => close.code), [1009]);
        assert.equal(
          asked[0]?.atLeastBytes,
          MAX_MESSAGE_BYTES + UNSEEN_ALLOWANCE.bytes,
        );
      } finally {
        await checked.check.dispose();
      }
    },
  );
  await t.step(
    "where ss cannot be read: one kernel_check_off line, nothing closed",
    async () => {
      const checked = checkedTrickle(
        () => ({ unavailable: "ss: No such file or directory" }),
        () => ({ aborted: 0, left: new Set() }),
      );
      try {
        await until(
          () => checked.lines.length > 0,
          "the kernel_check_off line",
        );
        assert.deepEqual(
          checked.lines.map((line) => [line.event, line.reason]),
          [["kernel_check_off", "ss: No such file or directory"]],
        );
        assert.deepEqual(checked.closes, []);
      } finally {
        await checked.check.dispose();
      }
    },
  );
});

Deno.test({
  name:
    "an endless message trickled past MAX_MESSAGE_BYTES is closed 1009 within the check's period, struck, and refused on its third try; a bystander keeps echoing and an honest slow sender is never closed",
  ignore: !hasSs(),
  fn: async () => {
    await using service = await startAttacked({
      MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES),
      // The stall rule is not this test's subject: a loop kept late by the
      // machine while nothing flows is a stall incident, at which the
      // kernel's count names the trickle (bytes the app never saw past a
      // held loop's 64 KiB) and it is aborted, with no close code and no
      // message_too_big line (1 of 7 runs at load ~30; reproduced with the
      // service stopped 400 ms in every 500: 'event_loop_stall
      // action=aborted cpuPercent=3').
      EVENT_LOOP_STALL_MS: "0",
    });
    const { port, records } = service;
    const lines = () =>
      records.filter((record: LogRecord) => record.event === "message_too_big");
    const honest = honestSender(port);
    // Awaited after the attack: a failure meanwhile fails the test there,
    // not as an uncaught rejection.
    honest.catch(() => {});
    const results: Array<Awaited<ReturnType<typeof trickle>>> = [];
    const { third } = await attackTwice(port, async (try_) => {
      const result = await trickle(port, ATTACKER);
      results.push(result);
      // On a failure, the service's own account too: a trickle cut with
      // no close code and no line of the check said nothing more.
      const closed = result.status === 101 && result.closeCode === 1009 &&
        result.cut;
      const said = `try ${try_}: ${JSON.stringify(result)}; ${
        JSON.stringify(lines())
      }${closed ? "" : `; ${await serviceEvidence(port, records)}`}`;
      assert.equal(result.status, 101, said);
      assert.equal(result.closeCode, 1009, said);
      assert.ok(result.cut, `cut before its budget; ${said}`);
      await until(() => lines().length >= try_, `try ${try_}'s log line`);
    }, records);
    assert.equal(
      third,
      429,
      `the third try; ${JSON.stringify(results)} ${JSON.stringify(lines())}`,
    );
    for (const line of lines()) {
      assert.equal(line.ip, ATTACKER, JSON.stringify(line));
      assert.equal(line.code, 1009);
      assert.ok(
        Number(line.unseenBytes) > MAX_MESSAGE_BYTES + UNSEEN_ALLOWANCE.bytes,
        JSON.stringify(line),
      );
      // Where the process may destroy sockets, the attacker that ignores
      // the Close is aborted (or had gone: the trickle stops when cut).
      if (CAN_ABORT) assert.match(String(line.aborted), /^(yes|gone)/);
    }
    assert.equal(lines().at(-1)?.refusedForSeconds !== 0, true);
    const honestSeen = await honest;
    assert.deepEqual(honestSeen, {
      closeCode: 0,
      echoes: HONEST_MESSAGES,
      ended: false,
    });
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`))
      .text();
    assert.match(metrics, /^ws_echo_kernel_check_closes_total 2$/m);
  },
});
