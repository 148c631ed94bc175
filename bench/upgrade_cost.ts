/**
 * The service's own JavaScript per upgrade, against the reference's: the
 * app's `fetch` (`createApp`, the bench's raised limits, the real log
 * formatting into a discarding writer, the watchdog's `OwnPeers` on the
 * registry as where the process owns its port) handed `count` upgrade
 * requests to `/echo`, each then opened and closed clean (1000) through its
 * socket's listener. `Deno.upgradeWebSocket` is replaced by a stand-in that
 * returns a counting socket and a 101-shaped answer, so Deno's own part of a
 * handshake (the 101's bytes, its socket, its ping timer), which the
 * reference pays too, is left out, and no network is used.
 *
 * Run it under callgrind at two counts and divide the difference by
 * theirs, as `handler_cost.ts`: the start-up cancels out, and instructions
 * do not move with the machine's load.
 *
 * ```sh
 * for n in 2000 12000; do valgrind --tool=callgrind --callgrind-out-file=/dev/null \
 *   deno run -A bench/upgrade_cost.ts service $n 2>&1 | grep Collected; done
 * ```
 *
 * Without valgrind it prints µs per upgrade, of wall time and of the
 * process's CPU. A third argument sets the
 * upgrades a turn of the event loop (default 10), a fourth how many stay
 * open at once (default 100, as the bench's handshakes: the oldest closes
 * as the next opens).
 *
 * @module
 */
import process from "node:process";
import { parseConfig } from "../lib/config.ts";
import { batchedLog } from "../lib/log.ts";
import { OwnPeers } from "../lib/start/own_peers.ts";
import { createApp } from "../routes/app.ts";
import { RAISED_LIMITS } from "./run/targets.ts";
import { CountingSocket } from "./echo_stand_in.ts";

const [target = "service", countText = "10000", perTurnText = "10"] = Deno.args;
const count = Number(countText);
const perTurn = Number(perTurnText);

/**
 * What `Deno.upgradeWebSocket` returns, minus Deno: echo_stand_in's
 * counting socket, with the handler the reference sets.
 */
class StandInSocket extends CountingSocket {
  onmessage: ((event: MessageEvent) => void) | null = null;
}

let socket: StandInSocket | undefined;
// Replaced for this process only: a bench, never loaded by the app.
(Deno as { upgradeWebSocket: unknown }).upgradeWebSocket = () => {
  socket = new StandInSocket();
  return {
    socket,
    response: { status: 101, headers: new Headers() },
  };
};

let fetch: (
  request: Request,
  info: Deno.ServeHandlerInfo,
) => Response | Promise<Response>;
let flush = () => {};
if (target === "service") {
  const config = parseConfig(RAISED_LIMITS);
  const output = batchedLog(config.logFormat, () => {});
  flush = output.flush;
  const app = createApp(config, { log: output.log });
  const own = new OwnPeers(() => {}, { portOwned: true });
  app.services.registry.observe(own.observe);
  app.services.payloadSeen.tell = own.grew;
  // The watch samples every 100 ms: at the bench's ~6,000 handshakes a
  // second, once per 600 upgrades.
  let upgrades = 0;
  fetch = (request, info) => {
    if (++upgrades % 600 === 0) own.sample();
    return app.fetch(request, info);
  };
} else if (target === "reference") {
  fetch = (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => socket.send(event.data);
    return response;
  };
} else {
  throw new TypeError(
    `Cannot run target "${target}": expected service or reference`,
  );
}

const HEADERS = {
  host: "127.0.0.1:8080",
  upgrade: "websocket",
  connection: "Upgrade",
  "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
  "sec-websocket-version": "13",
};
const open = new Event("open");
const close = new CloseEvent("close", { code: 1000, wasClean: true });
const never = new Promise<void>(() => {});

/** Open at once, as the bench's 100 concurrent handshakes keep them. */
const OPEN_AT_ONCE = Number(Deno.args[3] ?? 100);
const ring: (StandInSocket | undefined)[] = new Array(OPEN_AT_ONCE);
const startedCpu = process.cpuUsage();
const started = performance.now();
let port = 1024;
for (let i = 0; i < count; i += perTurn) {
  for (let j = 0; j < perTurn; j++) {
    const request = new Request("http://127.0.0.1:8080/echo", {
      headers: HEADERS,
    });
    const info = {
      remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: port++ },
      completed: never,
    } as Deno.ServeHandlerInfo;
    const answer = await fetch(request, info);
    if (answer.status !== 101) {
      throw new Error(`Upgrade ${i + j} answered ${answer.status}`);
    }
    const opened = socket!;
    opened.listener?.handleEvent(open);
    // The oldest of the ones open closes: OPEN_AT_ONCE stay open.
    const slot = (i + j) % OPEN_AT_ONCE;
    ring[slot]?.listener?.handleEvent(close);
    ring[slot] = opened;
  }
  // The next turn: the microtasks queued by this one run first.
  await null;
}
for (const opened of ring) opened?.listener?.handleEvent(close);
const us = (performance.now() - started) * 1e3 / count;
const cpu = process.cpuUsage();
// The process's CPU over the loop (every thread: the GC's helpers too).
const cpuUs = (cpu.user + cpu.system - startedCpu.user - startedCpu.system) /
  count;
flush();
console.log(
  `${target}: ${count} upgrades, ${us.toFixed(2)} us per upgrade, ` +
    `${cpuUs.toFixed(2)} us of CPU`,
);
Deno.exit(0);
