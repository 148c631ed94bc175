/**
 * A WebSocket stand-in for the connection's unit tests: no network, no Deno
 * resources, so the per-message logic runs in milliseconds. The test drives
 * it (`open()`, `receive()`, `peerClosed()`) and reads what the connection
 * did (`sent`, `closedWith`); `bufferedAmount` is whatever the test sets.
 *
 * @module
 */
import { ConnectionSweep } from "../lib/connection/sweep.ts";
import { serveEcho } from "../lib/connection/echo_connection.ts";
import { DEFAULT_CONFIG, parseConfig } from "../lib/config.ts";
import { PLAIN_ECHO } from "../lib/connection/parse_options.ts";
import type { EchoOptions } from "../lib/connection/parse_options.ts";
import type { LoopTurns } from "../lib/connection/loop_turns.ts";
import type { LogRecord } from "../lib/log.ts";
import { MemoryGuard } from "../lib/admission/memory_guard.ts";
import { Metrics } from "../lib/metrics.ts";
import { ConnectionRegistry, type Lease } from "../lib/admission/slots.ts";
import { DEFAULT_TIMEOUT_MS } from "./_client.ts";

/** The socket side of one connection, as the test sees it. */
export class FakeSocket extends EventTarget {
  binaryType: BinaryType = "blob";
  readyState: number = WebSocket.CONNECTING;
  /** What the test says Deno has queued, in payload bytes. */
  bufferedAmount = 0;
  /** Every frame the connection sent, in order. */
  readonly sent: Array<string | ArrayBuffer> = [];
  /** The close the connection sent, once it has. */
  closedWith: { code: number; reason: string } | undefined;

  send(data: string | ArrayBuffer): void {
    if (this.readyState !== WebSocket.OPEN) {
      throw new DOMException("not open", "InvalidStateError");
    }
    this.sent.push(data);
  }

  close(code: number, reason: string): void {
    this.closedWith = { code, reason };
    this.readyState = WebSocket.CLOSING;
  }

  /** The handshake finished. */
  open(): void {
    this.readyState = WebSocket.OPEN;
    this.dispatchEvent(new Event("open"));
  }

  /** A message arrived from the client. */
  receive(data: string | ArrayBuffer): void {
    this.dispatchEvent(new MessageEvent("message", { data }));
  }

  /** The connection ended, with the code Deno reports. */
  peerClosed(code = 1005, reason = ""): void {
    this.readyState = WebSocket.CLOSED;
    this.dispatchEvent(new CloseEvent("close", { code, reason }));
  }
}

/** One connection under test with the state around it. */
export interface FakeConnection extends Disposable {
  socket: FakeSocket;
  metrics: Metrics;
  memory: MemoryGuard;
  registry: ConnectionRegistry;
  lease: Lease;
  records: LogRecord[];
  /** Resolves after the service's close frame is sent (it waits one macrotask). */
  closed(): Promise<{ code: number; reason: string }>;
}

/**
 * Serves one fake connection with `env` on top of the defaults, opened.
 *
 * @param options.echo Query options. @default a pure echo
 * @param options.closeCommands `/close` commands. @default false
 * @param options.memory A memory guard to share between connections.
 * @param options.turns When the event loop was held. @default never
 */
export function fakeConnection(
  env: Record<string, string> = {},
  options: {
    echo?: EchoOptions;
    closeCommands?: boolean;
    memory?: MemoryGuard;
    turns?: LoopTurns;
    prelude?: string[];
    /** Leave the socket CONNECTING, with this open deadline. */
    neverOpens?: number;
  } = {},
): FakeConnection {
  const config = Object.keys(env).length ? parseConfig(env) : DEFAULT_CONFIG;
  const socket = new FakeSocket();
  const metrics = new Metrics();
  const memory = options.memory ??
    new MemoryGuard({ budgetBytes: 0, maxRssBytes: 0 });
  const registry = new ConnectionRegistry({ maxPerIp: 0, maxTotal: 0 });
  const lease = registry.admit("192.0.2.1") as Lease;
  const records: LogRecord[] = [];
  serveEcho(socket as unknown as WebSocket, {
    services: {
      config,
      metrics,
      memory,
      log: (record) => records.push(record),
      // Looks every 5 ms, so an open deadline of `neverOpens` ms is met soon.
      sweep: new ConnectionSweep(0, 5),
      turns: options.turns,
    },
    lease,
    ip: "192.0.2.1",
    id: "test-1",
    echo: options.echo ?? PLAIN_ECHO,
    prelude: options.prelude ?? [],
    closeCommands: options.closeCommands ?? false,
    ...(options.neverOpens === undefined
      ? {}
      : { openTimeoutMs: options.neverOpens }),
  });
  if (options.neverOpens === undefined) socket.open();
  return {
    socket,
    metrics,
    memory,
    registry,
    lease,
    records,
    async closed() {
      // Generous: a busy machine can hold this process for over a second.
      const deadline = Date.now() + DEFAULT_TIMEOUT_MS;
      while (!socket.closedWith) {
        if (Date.now() > deadline) {
          throw new Deno.errors.TimedOut(
            `Timed out after ${DEFAULT_TIMEOUT_MS} ms waiting for the service to close`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      return socket.closedWith;
    },
    [Symbol.dispose]() {
      if (socket.readyState !== WebSocket.CLOSED) socket.peerClosed();
      registry.dispose();
      memory.dispose();
    },
  };
}
