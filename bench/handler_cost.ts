/**
 * The service's message handler alone, against the reference's
 * `socket.send(event.data)`: one connection built as the app builds it
 * (`serveEcho`, the defaults with the bench's raised limits, a memory
 * guard, the registry's lease), a socket stand-in whose `send` only counts,
 * and `count` 32-byte text messages handed to its listener in a loop, no
 * event dispatch and no network. What is left is the JavaScript the service
 * adds per message (issue #23).
 *
 * Run it under callgrind at two counts and divide the difference by theirs:
 * the start-up cancels out, and the instructions per message do not move
 * with the machine's load (`perf stat -e instructions` is not supported on
 * this VM):
 *
 * ```sh
 * for n in 200000 1200000; do valgrind --tool=callgrind --callgrind-out-file=/dev/null \
 *   deno run -A bench/handler_cost.ts service $n 2>&1 | grep Collected; done
 * ```
 *
 * Without valgrind it prints ns per message (`deno run -A
 * bench/handler_cost.ts service 5000000`). A third argument sets the
 * messages per turn of the event loop (default 40; 1 is the latency
 * scenario's one message per turn).
 *
 * @module
 */
import { serveEcho } from "../lib/connection/echo_connection.ts";
import { ConnectionSweep } from "../lib/connection/sweep.ts";
import { parseConfig } from "../lib/config.ts";
import { PLAIN_ECHO } from "../lib/connection/parse_options.ts";
import { MemoryGuard } from "../lib/admission/memory_guard.ts";
import { Metrics } from "../lib/metrics.ts";
import { ConnectionRegistry, type Lease } from "../lib/admission/slots.ts";
import { heldReadBytes } from "../lib/connection/backlog.ts";
import { RAISED_LIMITS } from "./run/targets.ts";

const [target = "service", countText = "1000000", perTurnText = "40"] =
  Deno.args;
const count = Number(countText);
/**
 * Messages handed over per turn of the event loop: one turn delivers the
 * next message of every connection with one waiting. 40: what the
 * service read per clock reading under the bench's 50 x 16 (`turn_clock.ts`).
 */
const perTurn = Number(perTurnText);

/** Counts sends; `bufferedAmount` stays 0 (a client that reads). */
class CountingSocket {
  binaryType: BinaryType = "blob";
  readyState: number = WebSocket.OPEN;
  bufferedAmount = 0;
  sent = 0;
  listener: EventListenerObject | undefined;
  send(_data: string | ArrayBuffer): void {
    this.sent++;
  }
  close(): void {}
  addEventListener(_type: string, listener: EventListenerObject): void {
    this.listener = listener;
  }
}

// Decoded as Deno hands a received text message over: a flat string.
const data = new TextDecoder().decode(
  new TextEncoder().encode("x".repeat(32)),
);
const event = new MessageEvent("message", { data });
const socket = new CountingSocket();
const config = parseConfig(RAISED_LIMITS);
const memory = new MemoryGuard({
  budgetBytes: config.memoryBudgetBytes,
  maxRssBytes: config.maxRssBytes,
  freshBytes: heldReadBytes(config.maxMessageBytes),
});
const registry = new ConnectionRegistry({
  maxPerIp: config.maxConnectionsPerIp,
  maxTotal: config.maxConnections,
  clientMessageRate: {
    perSecond: config.rateLimitIpMessagesPerSecond,
    burst: config.rateLimitIpMessageBurst,
  },
});
const sweep = new ConnectionSweep(config.idleTimeoutSeconds * 1000);

let handle: (event: Event) => void;
if (target === "service") {
  const lease = registry.admit("127.0.0.1") as Lease;
  serveEcho(socket as unknown as WebSocket, {
    services: { config, metrics: new Metrics(), memory, log: () => {}, sweep },
    lease,
    ip: "127.0.0.1",
    id: "bench-1",
    echo: PLAIN_ECHO,
    prelude: [],
    closeCommands: false,
  });
  const listener = socket.listener!;
  listener.handleEvent(new Event("open"));
  handle = (event) => listener.handleEvent(event);
} else if (target === "reference") {
  handle = (event) => socket.send((event as MessageEvent).data);
} else {
  throw new TypeError(
    `Cannot run target "${target}": expected service or reference`,
  );
}

const started = performance.now();
for (let i = 0; i < count; i += perTurn) {
  for (let j = 0; j < perTurn; j++) handle(event);
  // The next turn: the microtasks queued by this one run first.
  await null;
}
const ns = (performance.now() - started) * 1e6 / count;
if (socket.sent < count) {
  throw new Error(`Sent ${socket.sent} of ${count} echoes`);
}
console.log(`${target} ${count} messages: ${ns.toFixed(1)} ns per message`);
sweep.dispose?.();
memory.dispose();
registry.dispose();
Deno.exit(0);
