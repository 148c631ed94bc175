/**
 * The Deno 2.9 facts the overload watch (`lib/start/overload_watch.ts`)
 * relies on, measured on a bare `Deno.serve` echo (no app), one per command:
 *
 * - `shutdown`: an endless fragmented message from another process; at
 *   600 MiB RSS the server's `shutdown()` runs and a new `Deno.serve` listens
 *   on the same port. Prints RSS after, how long listening again took, the
 *   close code a reading bystander got, and that the new server echoes.
 * - `reset [count]`: upgrades reset by the client (SO_LINGER 0); prints the
 *   descriptors leaked, the upgrades that never opened, and whether
 *   `shutdown()` frees them or resolves.
 * - `stall pong|empty|frag`: how late a 100 ms timer fires under each flood
 *   from another process, and after `shutdown()`; and the share of a core
 *   the server process burns each second of the flood.
 * - `held [frameKiB]`: whether collecting an endless fragmented message
 *   (continuation frames of `frameKiB`, 1024 by default, as fast as
 *   loopback takes them) holds the event loop: a 10 ms timer on the main
 *   loop beside a worker reading RSS every 100 ms, for 6 s; prints each
 *   main-loop gap over 50 ms and the worker's RSS.
 * - `abort [frameKiB] [atMiB]`: whether a thread can free what a held loop
 *   collects: as `held`, and once RSS reaches `atMiB` (300) the worker
 *   reads `ss -tinH` for the listener's connections and destroys the one
 *   the process read most from (`ss -K`, CAP_NET_ADMIN); prints RSS every
 *   20 ms around it, how long the two `ss` took, and the main loop's gaps.
 * - `cost`: what one RSS sample costs.
 *
 * @example
 * ```sh
 * deno run -A bench/overload_facts.ts reset 500
 * ```
 *
 * @module
 */
import net from "node:net";
import process from "node:process";
import { Buffer } from "node:buffer";
import { clientFrame, upgradeRequest } from "./wire.ts";

const MiB = 1024 * 1024;
const rssMiB = () => Math.round(Deno.memoryUsage().rss / MiB);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const fds = () => [...Deno.readDirSync("/proc/self/fd")].length;

function echoServer(port = 0) {
  return Deno.serve(
    { port, hostname: "127.0.0.1", onListen() {} },
    (request) => {
      if (request.headers.get("upgrade") !== "websocket") {
        return new Response("ok");
      }
      const { socket, response } = Deno.upgradeWebSocket(request);
      socket.onmessage = (event) => socket.send(event.data);
      return response;
    },
  );
}

/** Runs this script's flood `kind` against `port` in another process. */
function spawnAttacker(port: number, kind: string, frameKiB = 1024) {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      import.meta.filename!,
      "attack",
      String(port),
      kind,
      String(frameKiB),
    ],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
}

/** The attacker process: floods until its connection ends or 20 s pass. */
function attack(port: number, kind: string, frameKiB = 1024) {
  const chunk = kind === "pong"
    ? Buffer.concat(Array(512).fill(clientFrame(0xa, new Uint8Array(125))))
    : kind === "empty"
    ? Buffer.concat(Array(512).fill(clientFrame(0x0, new Uint8Array(0), false)))
    : clientFrame(0x0, new Uint8Array(frameKiB * 1024), false);
  const start = kind === "pong" ? new Uint8Array(0) : clientFrame(
    0x2,
    new Uint8Array(kind === "frag" ? frameKiB * 1024 : 0),
    false,
  );
  const socket = net.connect({ port, host: "127.0.0.1" });
  socket.on("error", () => {});
  socket.on("close", () => Deno.exit(0));
  socket.once("data", () => {
    socket.write(start);
    const pump = () => {
      while (!socket.destroyed && socket.write(chunk));
    };
    socket.on("drain", pump);
    pump();
  });
  socket.on("connect", () => socket.write(upgradeRequest("/")));
  setTimeout(() => Deno.exit(0), 20_000);
}

async function shutdownFrees() {
  let server = echoServer();
  const port = server.addr.port;
  const bystander = new WebSocket(`ws://127.0.0.1:${port}/`);
  await new Promise((resolve) => bystander.onopen = resolve);
  const closed = new Promise<number>((resolve) =>
    bystander.onclose = (event) => resolve(event.code)
  );
  const child = spawnAttacker(port, "frag");
  const started = performance.now();
  while (rssMiB() < 600 && performance.now() - started < 30_000) {
    await sleep(50);
  }
  const peak = rssMiB();
  // An attack that never grew (the attacker failed to connect or was
  // starved for 30 s) shows nothing about shutdown(): say so, not figures.
  if (peak < 300) {
    console.error(`The attack did not grow RSS (${peak} MiB after 30 s)`);
    child.kill();
    await child.status;
    await server.shutdown();
    bystander.close();
    Deno.exit(1);
  }
  const tripped = performance.now();
  server.shutdown();
  let relistenMs = -1;
  for (let i = 0; i < 500 && relistenMs < 0; i++) {
    try {
      server = echoServer(port);
      relistenMs = Math.round(performance.now() - tripped);
    } catch {
      await sleep(5);
    }
  }
  await sleep(500);
  const again = new WebSocket(`ws://127.0.0.1:${port}/`);
  await new Promise((resolve) => again.onopen = resolve);
  again.send("hi");
  const echo = await new Promise((resolve) =>
    again.onmessage = (e) => resolve(e.data)
  );
  again.close();
  console.log({
    peakMiB: peak,
    secondsToPeak: Math.round(tripped - started) / 1000,
    rssMiB500msAfterShutdown: rssMiB(),
    relistenMs,
    bystanderCloseCode: await closed,
    newServerEchoes: echo === "hi",
  });
  await child.status;
  await server.shutdown();
}

async function resetLeak(count: number) {
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    (request) => {
      const { socket, response } = Deno.upgradeWebSocket(request);
      upgraded++;
      socket.onopen = () => opened++;
      return response;
    },
  );
  let upgraded = 0, opened = 0;
  const before = fds();
  let done = 0;
  await new Promise<void>((resolve) => {
    let started = 0;
    const next = () => {
      if (started >= count) return;
      started++;
      const socket = net.connect({ port: server.addr.port, host: "127.0.0.1" });
      socket.on("error", () => {});
      socket.on("connect", () => {
        socket.write(upgradeRequest("/"));
        setTimeout(() => socket.resetAndDestroy(), 0);
      });
      socket.on("close", () => {
        if (++done === count) resolve();
        else next();
      });
    };
    for (let i = 0; i < 20; i++) next();
  });
  await sleep(3000);
  const leaked = fds() - before;
  let resolved = false;
  server.shutdown().then(() => resolved = true);
  await sleep(2000);
  console.log({
    resets: count,
    upgraded,
    neverOpened: upgraded - opened,
    descriptorsLeaked: leaked,
    leakedAfterShutdown: fds() - before,
    shutdownResolvedWithin2s: resolved,
  });
  Deno.exit(0);
}

async function stall(kind: string) {
  const server = echoServer();
  let last = performance.now();
  const lateMs: number[] = [];
  const cpuPercent: number[] = [];
  let cpu = process.cpuUsage();
  let cpuAt = last;
  const timer = setInterval(() => {
    const now = performance.now();
    lateMs.push(Math.round(now - last - 100));
    last = now;
    if (now - cpuAt < 1000) return;
    // The share of one core the server process used over the last second.
    const used = process.cpuUsage(cpu);
    cpuPercent.push(Math.round((used.user + used.system) / 10 / (now - cpuAt)));
    cpu = process.cpuUsage();
    cpuAt = now;
  }, 100);
  const child = spawnAttacker(server.addr.port, kind);
  await sleep(4000);
  const during = lateMs.splice(0);
  const cpuDuring = cpuPercent.splice(0);
  const rss = rssMiB();
  await server.shutdown();
  await sleep(1000);
  clearInterval(timer);
  console.log({
    kind,
    lateMsDuring4s: during,
    cpuPercentPerSecondDuring: cpuDuring,
    rssMiB: rss,
    lateMsAfterShutdown: lateMs,
  });
  await child.status;
}

/** The worker of `held`: process RSS (MiB) every 100 ms for 6 s. */
const RSS_SAMPLER = `
self.onmessage = () => {
  const out = [];
  const started = performance.now();
  const timer = setInterval(() => {
    out.push([Math.round(performance.now() - started),
      Math.round(Deno.memoryUsage().rss / ${MiB})]);
  }, 100);
  setTimeout(() => { clearInterval(timer); self.postMessage(out); }, 6000);
};`;

/**
 * Watches the main loop with a 10 ms timer until `stop()`, which returns
 * each gap over 50 ms as `[ms since the start, gap ms]`.
 */
function watchLoopGaps() {
  const started = performance.now();
  const gaps: number[][] = [];
  let last = started;
  const timer = setInterval(() => {
    const now = performance.now();
    if (now - last > 50) {
      gaps.push([Math.round(now - started), Math.round(now - last)]);
    }
    last = now;
  }, 10);
  return {
    stop: () => {
      clearInterval(timer);
      return gaps;
    },
  };
}

async function held(frameKiB: number) {
  const server = echoServer();
  const worker = new Worker(
    URL.createObjectURL(new Blob([RSS_SAMPLER], { type: "text/javascript" })),
    { type: "module" },
  );
  const rss = new Promise<number[][]>((resolve) => {
    worker.onmessage = (event) => resolve(event.data);
  });
  worker.postMessage("start");
  const loop = watchLoopGaps();
  const child = spawnAttacker(server.addr.port, "frag", frameKiB);
  const rssMiBEvery100ms = await rss;
  const gaps = loop.stop();
  child.kill();
  await child.status;
  worker.terminate();
  await server.shutdown();
  console.log({ frameKiB, mainLoopGapsOver50ms: gaps, rssMiBEvery100ms });
}

/** The worker of `abort`: aborts the top reader at `atMiB`, RSS every 20 ms. */
const ABORTER = `
self.onmessage = async ({ data: { port, atMiB } }) => {
  const rss = () => Math.round(Deno.memoryUsage().rss / ${MiB});
  const ss = async (args) => new TextDecoder().decode((await new Deno.Command(
    "ss", { args, stdout: "piped", stderr: "piped" }).output()).stdout);
  const out = [];
  const started = performance.now();
  const at = () => Math.round(performance.now() - started);
  let abortedAt = -1;
  let took = {};
  while (at() < (abortedAt < 0 ? 30000 : abortedAt + 2000)) {
    out.push([at(), rss()]);
    if (abortedAt < 0 && rss() >= atMiB) {
      abortedAt = at();
      const text = await ss(["-tinH", "state", "established",
        "( sport = :" + port + " )"]);
      took.listMs = at() - abortedAt;
      let top = "", most = -1;
      for (const m of text.matchAll(/^(\\d+)\\s+\\d+\\s+\\S+\\s+(\\S+)[^\\n]*\\n\\s[^\\n]*?bytes_received:(\\d+)/gm)) {
        const read = Number(m[3]) - Number(m[1]);
        if (read > most) { most = read; top = m[2]; }
      }
      took.top = top; took.readMiB = Math.round(most / ${MiB});
      await ss(["-K", "-tnH", "state", "established",
        "( sport = :" + port + " ) and ( dst " + top + " )"]);
      took.abortMs = at() - abortedAt;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  self.postMessage({ out, abortedAt, took });
};`;

async function abortFromThread(frameKiB: number, atMiB: number) {
  const server = echoServer();
  const worker = new Worker(
    URL.createObjectURL(new Blob([ABORTER], { type: "text/javascript" })),
    { type: "module" },
  );
  const done = new Promise<
    { out: number[][]; abortedAt: number; took: Record<string, unknown> }
  >((resolve) => worker.onmessage = (event) => resolve(event.data));
  worker.postMessage({ port: server.addr.port, atMiB });
  const loop = watchLoopGaps();
  const child = spawnAttacker(server.addr.port, "frag", frameKiB);
  const { out, abortedAt, took } = await done;
  const gaps = loop.stop();
  try {
    child.kill();
  } catch {
    // It ended with its connection.
  }
  await child.status;
  worker.terminate();
  await server.shutdown();
  const near = out.filter(([t = 0]) =>
    abortedAt >= 0 && t >= abortedAt - 100 && t <= abortedAt + 1500
  );
  console.log({
    frameKiB,
    atMiB,
    abortedAtMs: abortedAt,
    took,
    rssMiBAroundAbort: near.map(([t, mib]) => `${t}:${mib}`).join(" "),
    peakMiB: Math.max(...out.map(([, mib]) => mib!)),
    lastMiB: out.at(-1)?.[1],
    mainLoopGapsOver50ms: gaps,
  });
}

function cost() {
  const n = 20_000;
  let t = performance.now();
  for (let i = 0; i < n; i++) Deno.memoryUsage();
  const memoryUsageUs = (performance.now() - t) * 1000 / n;
  t = performance.now();
  for (let i = 0; i < n; i++) process.cpuUsage();
  const cpuUsageUs = (performance.now() - t) * 1000 / n;
  t = performance.now();
  for (let i = 0; i < n; i++) performance.now();
  const nowUs = (performance.now() - t) * 1000 / n;
  console.log({
    memoryUsageUs: Math.round(memoryUsageUs * 10) / 10,
    cpuUsageUs: Math.round(cpuUsageUs * 10) / 10,
    performanceNowUs: Math.round(nowUs * 1000) / 1000,
    // Ten samples a second: microseconds per second / 10^4 = percent.
    watchSharePercentAt100ms:
      Math.round((memoryUsageUs + cpuUsageUs) * 10 / 1e4 * 1000) / 1000,
  });
}

if (import.meta.main) {
  const [command, ...args] = Deno.args;
  if (command === "attack") {
    attack(Number(args[0]), args[1]!, Number(args[2] ?? 1024));
  } else if (command === "shutdown") await shutdownFrees();
  else if (command === "reset") await resetLeak(Number(args[0] ?? 500));
  else if (command === "stall") await stall(args[0] ?? "pong");
  else if (command === "held") await held(Number(args[0] ?? 1024));
  else if (command === "abort") {
    await abortFromThread(Number(args[0] ?? 8192), Number(args[1] ?? 300));
  } else if (command === "cost") cost();
  else {
    console.error(
      "Usage: overload_facts.ts shutdown | reset [n] | stall pong|empty|frag | held [frameKiB] | abort [frameKiB] [atMiB] | cost",
    );
    Deno.exit(2);
  }
}
