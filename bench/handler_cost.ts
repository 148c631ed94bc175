/**
 * The service's message handler alone, against the reference's
 * `socket.send(event.data)`: connections built as the app builds them, on
 * socket stand-ins whose `send` only counts (`echo_stand_in.ts`), and
 * `count` 32-byte text messages handed to its listener in a loop, no
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
import { CountingSocket, StandIns } from "./echo_stand_in.ts";

const [
  target = "service",
  countText = "1000000",
  perTurnText = "40",
  connectionsText = "1",
] = Deno.args;
const count = Number(countText);
/**
 * Messages handed over per turn of the event loop: one turn delivers the
 * next message of every connection with one waiting. 40: what the
 * service read per clock reading under the bench's 50 x 16 (`turn_clock.ts`).
 */
const perTurn = Number(perTurnText);
/**
 * Connections the turn's messages are spread over, one after another: 1
 * gives one connection `perTurn` messages a turn; `perTurn` gives each
 * connection one a turn, as the service meets the bench's 50 x 16 (Deno
 * resolves one read per connection a turn), so what a connection does once
 * per reading of the clock is counted once per message.
 */
const connections = Number(connectionsText);

// Decoded as Deno hands a received text message over: a flat string.
const data = new TextDecoder().decode(
  new TextEncoder().encode("x".repeat(32)),
);
const event = new MessageEvent("message", { data });
const standIns = new StandIns();
const handlers: ((event: Event) => void)[] = [];
if (target === "service") {
  for (const listener of standIns.open(connections)) {
    handlers.push((event) => listener.handleEvent(event));
  }
} else if (target === "reference") {
  for (let i = 0; i < connections; i++) {
    const socket = new CountingSocket();
    standIns.sockets.push(socket);
    handlers.push((event) => socket.send((event as MessageEvent).data));
  }
} else {
  throw new TypeError(
    `Cannot run target "${target}": expected service or reference`,
  );
}

const started = performance.now();
for (let i = 0; i < count; i += perTurn) {
  for (let j = 0; j < perTurn; j++) handlers[j % connections]!(event);
  // The next turn: the microtasks queued by this one run first.
  await null;
}
const ns = (performance.now() - started) * 1e6 / count;
const sent = standIns.sockets.reduce((sum, socket) => sum + socket.sent, 0);
if (sent < count) {
  throw new Error(`Sent ${sent} of ${count} echoes`);
}
console.log(
  `${target} ${count} messages, ${perTurn} a turn over ${connections} ` +
    `connection(s): ${ns.toFixed(1)} ns per message`,
);
standIns.dispose();
Deno.exit(0);
