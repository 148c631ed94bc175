/**
 * How often a client that keeps sending just after the message that makes
 * the server close (text `Goodbye`, `close_after=`, the end of a `/stream`)
 * misses the server's Close frame. RFC 6455 §7.1.1 wants it to get the Close
 * frame every time: the server keeps reading (and discarding) until the
 * client's Close. Starts the service with the start task's flags on
 * 127.0.0.1, then for each case opens `runs` connections, once with the raw
 * client (bench/wire.ts: sends the trigger, then a few more frames one
 * macrotask apart until it sees the Close, answers it with 1000) and once
 * with Deno's WebSocket client (sends the trigger and more on open).
 *
 * ```sh
 * deno run -A bench/close_race.ts [runs=40]
 * ```
 *
 * @module
 */
import {
  clientFrame,
  CLOSE_1000,
  closeCode,
  FrameReader,
  openRawWebSocket,
  withDeadline,
  writeAll,
} from "./wire.ts";
import { startService } from "./service.ts";

/** One way to make the server close, and what the client sends first. */
export interface CloseCase {
  path: string;
  /** Sent on open; the server's close follows it (or the stream's end). */
  trigger: string;
  /** The close code the client must see. */
  code: number;
}

/** The three server-initiated closes of the echo endpoints. */
export const CLOSE_CASES: readonly CloseCase[] = [
  { path: "/echo", trigger: "Goodbye", code: 1000 },
  { path: "/echo?close_after=1", trigger: "hi", code: 1000 },
  { path: "/stream?count=2&interval=0", trigger: "hi", code: 1000 },
];

/** What one connection saw: its close code (0 for none) and the messages. */
export interface RaceOutcome {
  /** The code of the server's Close frame; 0 when none arrived. */
  code: number;
  /** Data frames received before the Close. */
  messages: number;
  /** Data frames received after the Close: RFC 6455 §5.5.1 allows none. */
  afterClose: number;
}

/** More frames the client sends after the trigger, one macrotask apart. */
const MORE_FRAMES = 5;
const encoder = new TextEncoder();

/**
 * One raw connection: sends `trigger`, then up to {@link MORE_FRAMES} more
 * text frames each a macrotask later until the server's Close arrives, which
 * it answers with 1000; reads until the server ends the TCP connection.
 *
 * @throws {Deno.errors.TimedOut} If the server neither closes nor ends the
 * connection within `timeoutMs`.
 */
export async function rawRace(
  port: number,
  closeCase: CloseCase,
  timeoutMs = 10_000,
): Promise<RaceOutcome> {
  const { conn, leftover } = await openRawWebSocket(port, {
    path: closeCase.path,
    timeoutMs,
  });
  const outcome: RaceOutcome = { code: 0, messages: 0, afterClose: 0 };
  let answered: Promise<void> | undefined;
  const reader = new FrameReader((opcode, payload) => {
    if (opcode === 0x8 && outcome.code === 0) {
      outcome.code = closeCode(payload);
      answered = writeAll(conn, CLOSE_1000).catch(() => {});
    } else if (opcode === 0x1 || opcode === 0x2) {
      if (outcome.code === 0) outcome.messages++;
      else outcome.afterClose++;
    }
  });
  reader.push(leftover);
  const sending = (async () => {
    await writeAll(conn, clientFrame(0x1, encoder.encode(closeCase.trigger)));
    for (let i = 0; i < MORE_FRAMES && outcome.code === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      if (outcome.code !== 0) break;
      await writeAll(conn, clientFrame(0x1, encoder.encode(`more ${i}`)));
    }
  })().catch(() => {
    // The server ended the connection while we were sending: counted below.
  });
  try {
    await withDeadline(
      (async () => {
        const buffer = new Uint8Array(64 * 1024);
        for (;;) {
          const n = await conn.read(buffer).catch(() => null);
          if (n === null) return;
          reader.push(buffer.subarray(0, n));
        }
      })(),
      timeoutMs,
      `the end of ${closeCase.path}`,
    );
  } finally {
    conn.close();
    await sending;
    await answered;
  }
  return outcome;
}

/**
 * One connection with Deno's WebSocket client, which sends `trigger` and one
 * more message on open.
 */
export async function clientRace(
  port: number,
  closeCase: CloseCase,
  timeoutMs = 10_000,
): Promise<RaceOutcome> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}${closeCase.path}`);
  const outcome: RaceOutcome = { code: 0, messages: 0, afterClose: 0 };
  const closed = Promise.withResolvers<void>();
  socket.onopen = () => {
    socket.send(closeCase.trigger);
    socket.send("more");
  };
  socket.onmessage = () => outcome.messages++;
  socket.onclose = (event) => {
    outcome.code = event.code;
    closed.resolve();
  };
  try {
    await withDeadline(closed.promise, timeoutMs, `${closeCase.path} closing`);
  } finally {
    if (socket.readyState !== WebSocket.CLOSED) socket.close();
  }
  return outcome;
}

if (import.meta.main) {
  const runs = Number(Deno.args[0] ?? 40);
  const load = Deno.loadavg()[0]!.toFixed(1);
  await using service = await startService({ BIND_ADDRESS: "127.0.0.1" });
  console.log(`close race: ${runs} runs per case, load average ${load}`);
  for (const closeCase of CLOSE_CASES) {
    for (
      const [name, race] of [["raw", rawRace], ["deno", clientRace]] as const
    ) {
      let missed = 0;
      for (let i = 0; i < runs; i++) {
        const outcome = await race(service.port, closeCase);
        if (outcome.code !== closeCase.code) missed++;
      }
      console.log(
        `${closeCase.path.padEnd(28)} ${
          name.padEnd(4)
        } missed the Close ${missed}/${runs}`,
      );
    }
  }
}
