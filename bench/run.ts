/**
 * `deno task bench [--quick] [--rounds N] [--scale] [--idle] [--service-entry FILE] [--no-v8-flags]`
 * (`--help` lists them): runs the same
 * scenarios against the bare Deno echo (the reference) and against the
 * service in pairs: each pair measures one target, then the other, back to
 * back, the order alternating from pair to pair (`pairOrder`), each
 * target on its own process on a free loopback port. Each round has one
 * pair of the idle, large-message and handshake scenarios and
 * {@link PLAN}`.pairsPerRound` shorter pairs of the small-message and
 * latency scenarios. Prints a markdown table of medians (with min-max) and
 * of the per-pair service / reference ratios (their median, min-max and
 * count: `run/figures.ts`), and writes everything as JSON to
 * `bench/results/`.
 *
 * The service runs with the `deno task start` flags and every limit at its
 * default, except the per-connection rate limits and the per-IP cap, which
 * are raised (but left on) because all load comes from one loopback address.
 *
 * `--idle` runs only the idle scenario (RSS per idle connection, with the
 * cold start and RSS at start it reads on the way), for measuring memory
 * without the traffic scenarios' minutes.
 *
 * `--service-entry FILE` runs FILE in place of the bundle the start task
 * runs, with the same flags: a quick pair of a change against main (a copy
 * of `dist/main.js` with one thing off, say) without committing it.
 *
 * `--no-v8-flags` runs the service without the start task's `--v8-flags`:
 * as Deno Deploy runs it, which takes none (what the flags buy is a pair of
 * runs with and without).
 *
 * Every server is left {@link SETTLE_MS} after its first echo before it is
 * measured, so what it starts on a timer after that echo (the service's RSS
 * watchdog thread) lands in "RSS settled", not in the first connections.
 *
 * `--scale` runs only the scale curve instead (`bench/scale.ts`): 1,000,
 * 10,000 and 50,000 open connections, with MAX_CONNECTIONS and MAX_RSS_BYTES
 * raised to fit them.
 *
 * This file holds the plan and the scenarios; `run/` the rest: the two
 * targets and how they start (`targets.ts`), what is read of a running
 * server (`process_stats.ts`), the table (`figures.ts`) and `--scale`
 * (`scale_run.ts`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import process from "node:process";
import {
  echoFrames,
  echoOnce,
  handshakes,
  latency,
  openIdle,
  type RawSocket,
  throughput,
} from "./load.ts";
import { coldStartPairs } from "./run/cold_pairs.ts";
import { compare, figures, pairOrder, type Samples } from "./run/figures.ts";
import {
  cpuSeconds,
  loadAverage,
  peakRssKiB,
  rssKiB,
  shedCount,
  threadCpuMs,
} from "./run/process_stats.ts";
import { runScale } from "./run/scale_run.ts";
import {
  canPin as pinningWorks,
  killRunning,
  RAISED_LIMITS,
  type Server,
  SETTLE_MS,
  SMALL,
  start,
  stop,
  stopServersOnSignal,
  type Target,
  TARGETS,
} from "./run/targets.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string", default: "3" },
    scale: { type: "boolean", default: false },
    idle: { type: "boolean", default: false },
    "service-entry": { type: "string" },
    "no-v8-flags": { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (args.values.help) {
  console.log(`Usage: deno task bench [options]
  --quick               shorter scenarios, 1,000 idle connections only (under 30 s)
  --rounds N            rounds of pairs, reference and service back to back (1-20, default 3)
  --idle                only the idle scenario (RSS per idle connection)
  --scale               only the scale curve (1,000, 10,000, 50,000 open)
  --service-entry FILE  run FILE as the service, with the start task's flags
  --no-v8-flags         run the service without the start task's --v8-flags (as Deno Deploy)
  --help                this text`);
  Deno.exit(0);
}
const serviceEntry = args.values["service-entry"];
const noV8Flags = args.values["no-v8-flags"];
if (serviceEntry !== undefined) {
  try {
    Deno.statSync(serviceEntry);
  } catch {
    console.error(`bench: --service-entry "${serviceEntry}" cannot be read`);
    Deno.exit(2);
  }
}
const quick = args.values.quick;
const rounds = Number(args.values.rounds);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) {
  console.error(
    `bench: --rounds must be an integer 1-20, got ${args.values.rounds}`,
  );
  Deno.exit(2);
}

/**
 * What each scenario does; `--quick` shortens every one. The small-message
 * and latency scenarios run `pairsPerRound` pairs a round, each as long as
 * `smallMs` / `latencyMs`: the same 10 s and 5 s of each target a round as
 * one long run each, in pairs seconds apart rather than minutes.
 */
const PLAN = quick
  ? {
    smallMs: 750,
    latencyMs: 500,
    pairsPerRound: 2,
    largeMs: 1000,
    handshakes: 1000,
    handshakeWarmUp: 1000,
    idle: [1000],
    coldStarts: 5,
  }
  : {
    smallMs: 2000,
    latencyMs: 1000,
    pairsPerRound: 5,
    largeMs: 5000,
    handshakes: 5000,
    handshakeWarmUp: 1000,
    idle: [1000, 5000, 10_000],
    coldStarts: 15,
  };

async function shell(command: string): Promise<string> {
  const output = await new Deno.Command("sh", { args: ["-c", command] })
    .output();
  return new TextDecoder().decode(output.stdout).trim();
}

const cores = navigator.hardwareConcurrency;
const canPin = await pinningWorks();
if (canPin) await shell(`taskset -a -c -p 1 ${Deno.pid} >/dev/null`);
const fdLimit = Number(await shell("ulimit -n"));
const idleCounts = PLAN.idle.filter((count) => count + 200 <= fdLimit);

stopServersOnSignal();

const large = echoFrames(
  2,
  crypto.getRandomValues(new Uint8Array(64 * 1024)),
);

/**
 * Every measurement, per figure and target. Each scenario records both
 * targets once per pair, so the `i`-th values of the two are a pair.
 */
const samples: Samples = {};
function record(figure: string, target: Target, value: number) {
  samples[figure] ??= { reference: [], service: [] };
  samples[figure][target].push(value);
}

/** Pairs run so far, per scenario: which target goes first next. */
const pairsRun: Record<string, number> = {};

/** The order of the next pair of `scenario` ({@link pairOrder}). */
function nextOrder(scenario: string): Target[] {
  pairsRun[scenario] ??= 0;
  return pairOrder(pairsRun[scenario]++);
}

/**
 * How every server of the run is started: pinned where it can be, the
 * service from `--service-entry` when given.
 */
function startOptions(target: Target) {
  return { pinned: canPin, ...entryOf(target) };
}

/**
 * The file run as the service when `--service-entry` is given, and its V8
 * flags dropped with `--no-v8-flags`.
 */
function entryOf(target: Target): { entry?: string; noV8Flags?: boolean } {
  if (target !== "service") return {};
  return {
    ...(serviceEntry === undefined ? {} : { entry: serviceEntry }),
    ...(noV8Flags ? { noV8Flags: true } : {}),
  };
}

/**
 * Starts a target and waits {@link SETTLE_MS} after its first echo. The
 * CPU it uses in the last second of that wait, with no connection open, is
 * its idle cost (the service's timers and threads: about 20 ms a second
 * against the bare echo's 0.15 at load 9, BENCHMARKS.md tenth round).
 */
async function startSettled(
  target: Target,
): Promise<
  Server & {
    startKiB: number;
    idleCpuMsPerSecond: number;
  }
> {
  const server = await start(target, startOptions(target));
  const startKiB = rssKiB(server.child.pid);
  const wait = (ms: number) =>
    new Promise((resolve) => setTimeout(resolve, ms));
  await wait(SETTLE_MS - 1000);
  const cpuBefore = threadCpuMs(server.child.pid);
  const idleFrom = performance.now();
  await wait(1000);
  const idleCpuMsPerSecond = (threadCpuMs(server.child.pid) - cpuBefore) /
    ((performance.now() - idleFrom) / 1000);
  return Object.assign(server, { startKiB, idleCpuMsPerSecond });
}

/**
 * Idle connections opened (and one echoed on) before the first RSS reading
 * of the idle scenario.
 */
const IDLE_WARM_UP = 100;

/**
 * RSS per idle connection as what each one more costs: the RSS added from
 * one count to the next, divided by the connections added (100 -> 1,000,
 * 1,000 -> 5,000, 5,000 -> 10,000). Not the RSS above the start divided by
 * the count, which charges the connections with whatever the start left to
 * grow later: the figure at 1,000 rose 1.08 -> 1.17 when the start got
 * leaner, with the totals unchanged. Each range's figure is still read at its
 * end, so the first one holds what grows once over the first connections
 * (BENCHMARKS.md, issue #23, sixth round).
 */
async function measureIdle(target: Target) {
  const server = await startSettled(target);
  record("startRssMiB", target, server.startKiB / 1024);
  record("settledRssMiB", target, rssKiB(server.child.pid) / 1024);
  record("idleCpuMsPerSecond", target, server.idleCpuMsPerSecond);
  const sockets: RawSocket[] = [];
  try {
    let open = IDLE_WARM_UP;
    // The newest connection echoes: the server has caught up. No extra
    // connection, so 10,000 fits under the default MAX_CONNECTIONS.
    await openIdle(server.port, sockets, open);
    await echoOnce(sockets.at(-1)!, SMALL);
    let rss = rssKiB(server.child.pid);
    for (const count of idleCounts) {
      await openIdle(server.port, sockets, count);
      await echoOnce(sockets.at(-1)!, SMALL);
      const now = rssKiB(server.child.pid);
      record(`idleKiB.${count}`, target, (now - rss) / (count - open));
      record(`idleTotalMiB.${count}`, target, now / 1024);
      open = count;
      rss = now;
    }
  } finally {
    for (const { conn } of sockets) conn.close();
    await stop(server);
  }
}

/**
 * Moves every thread of `server` to `cpu` (`taskset`): a server waiting
 * its turn in a pair is parked on CPU 1, beside the load generator, so its
 * own timers and threads (the service's 8-17 ms of CPU a second with no
 * connection, BENCHMARKS.md twelfth round) take nothing from the server
 * measured on CPU 0. Nothing when servers are not pinned.
 */
async function moveTo(server: Server, cpu: 0 | 1): Promise<void> {
  if (!canPin) return;
  await shell(`taskset -a -c -p ${cpu} ${server.child.pid} >/dev/null`);
}

/**
 * The traffic scenarios of one round, in pairs: both targets started and
 * settled, then each pair measures one and the other back to back, the
 * one measured on CPU 0, the other parked ({@link moveTo}).
 */
async function measureTraffic(order: Target[]) {
  const servers = new Map<Target, Server>();
  try {
    for (const target of order) {
      servers.set(target, await startSettled(target));
      await moveTo(servers.get(target)!, 1);
    }
    /** Runs `measure` on each target of the next pair of `scenario`. */
    const pair = async (
      scenario: string,
      measure: (target: Target, server: Server) => Promise<void>,
    ) => {
      for (const target of nextOrder(scenario)) {
        const server = servers.get(target)!;
        await moveTo(server, 0);
        try {
          await measure(target, server);
        } catch (error) {
          if (target === "service") await explainFailure(server);
          throw error;
        } finally {
          await moveTo(server, 1);
        }
      }
    };
    for (let i = 0; i < PLAN.pairsPerRound; i++) {
      await pair("small", smallMessages);
    }
    for (let i = 0; i < PLAN.pairsPerRound; i++) {
      await pair("latency", roundTrips);
    }
    await pair("large", largeMessages);
    // Unmeasured: lets both JITs compile the handshake path first, so the
    // figure is the steady rate rather than compile time (cold start has
    // that). 1,000 in --quick too: after 200, the service's main thread
    // spent 183 against 153 µs a handshake and V8's helper threads 74
    // against 43 (its larger handshake path still being compiled); after
    // 1,000, 134 against 137 on the main thread (/tmp/v23/hsprof.ts, 3
    // rounds each, load 21-22). Both before the measured pair, so the pair
    // stays back to back.
    for (const target of order) {
      const server = servers.get(target)!;
      await moveTo(server, 0);
      await handshakes({
        port: server.port,
        total: PLAN.handshakeWarmUp,
        concurrency: 100,
      });
      await moveTo(server, 1);
    }
    await pair("handshakes", measureHandshakes);
  } finally {
    for (const server of servers.values()) await stop(server);
  }
}

/**
 * A 503 or a closed connection from the service is most likely its memory
 * guard: says so, with the numbers, rather than only "answered 503".
 */
async function explainFailure(server: Server): Promise<void> {
  const health = await fetch(`http://127.0.0.1:${server.port}/healthz`)
    .then((response) => response.json()).catch(() => undefined);
  const memory = health?.memory;
  if (memory) {
    console.error(
      `bench: service memory guard: shedding=${memory.shedding}, RSS ${
        (memory.rssBytes / 2 ** 20).toFixed(0)
      } MiB (MAX_RSS_BYTES ${(memory.maxRssBytes / 2 ** 20).toFixed(0)}), ${
        (memory.usedBytes / 2 ** 20).toFixed(0)
      } MiB counted (MEMORY_BUDGET_BYTES ${
        (memory.budgetBytes / 2 ** 20).toFixed(0)
      }), shed so far ${JSON.stringify(memory.shed)}`,
    );
  }
}

/** 50 connections × 16 small messages in flight: the rate and both CPUs. */
async function smallMessages(target: Target, server: Server) {
  const cpuBefore = process.cpuUsage();
  const serverBefore = cpuSeconds(server.child.pid);
  const wallBefore = performance.now();
  const smallRun = await throughput({
    port: server.port,
    connections: 50,
    inFlight: 16,
    frames: SMALL,
    durationMs: PLAN.smallMs,
  });
  const wall = (performance.now() - wallBefore) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  record("small.messagesPerSecond", target, smallRun.messagesPerSecond);
  record("cpu.loadGenerator", target, (cpu.user + cpu.system) / 1e6 / wall);
  const serverCores = (cpuSeconds(server.child.pid) - serverBefore) / wall;
  record("cpu.server", target, serverCores);
  // What a message costs the server, whatever share of a core it got: on a
  // loaded machine the rate follows the scheduler (the reference's own rounds
  // ranged 8,724-28,485 msg/s in one --quick run at load 15), its CPU per
  // message much less.
  record(
    "small.serverCpuMicros",
    target,
    serverCores / smallRun.messagesPerSecond * 1e6,
  );
}

/** One connection, one small message at a time: the round trip's quantiles. */
async function roundTrips(target: Target, server: Server) {
  const rtt = await latency({
    port: server.port,
    frames: SMALL,
    durationMs: PLAN.latencyMs,
  });
  record("latency.p50", target, rtt.p50);
  record("latency.p99", target, rtt.p99);
  record("latency.max", target, rtt.max);
}

/** 8 connections × 4 binary 64 KiB messages in flight: MiB/s and peak RSS. */
async function largeMessages(target: Target, server: Server) {
  const { peakKiB, result: largeRun } = await peakRssKiB(
    server.child.pid,
    () =>
      throughput({
        port: server.port,
        connections: 8,
        inFlight: 4,
        frames: large,
        durationMs: PLAN.largeMs,
      }),
  );
  record("large.MiBPerSecond", target, largeRun.bytesPerSecond / 2 ** 20);
  record("large.peakRssMiB", target, peakKiB / 1024);
  if (target === "service") {
    // A shed connection would also have failed the run ("server closed").
    const shed = await shedCount(server.port);
    if (shed > 0) {
      console.error(`bench: the memory guard shed ${shed} connection(s)`);
    }
    record("large.shed", target, shed);
  }
}

/** {@link PLAN}`.handshakes` connect-and-close, 100 at once (after the warm-up). */
async function measureHandshakes(target: Target, server: Server) {
  const serverBeforeHandshakes = cpuSeconds(server.child.pid);
  const accepted = await handshakes({
    port: server.port,
    total: PLAN.handshakes,
    concurrency: 100,
  });
  record("handshakes.perSecond", target, accepted.perSecond);
  record("handshakes.p99Ms", target, accepted.p99Ms);
  record(
    "handshakes.serverCpuMicros",
    target,
    (cpuSeconds(server.child.pid) - serverBeforeHandshakes) /
      PLAN.handshakes * 1e6,
  );
}

const began = performance.now();
const loadBefore = loadAverage();
const deno = Deno.version.deno;
const cpuModel = /model name\s*:\s*(.*)/.exec(
  Deno.readTextFileSync("/proc/cpuinfo"),
)?.[1] ?? "unknown CPU";
console.error(
  `bench: ${rounds} rounds${quick ? " (--quick)" : ""}${
    args.values.idle ? ", idle scenario only" : ""
  }, ${cores} cores (${cpuModel}), Deno ${deno}${
    canPin ? ", server pinned to CPU 0, load generator to CPU 1" : ", unpinned"
  }`,
);
if (args.values.scale) {
  await runScale({ rounds, pinned: canPin, loadBefore });
}
try {
  // Cold start in starts taken side by side, not one per round: rounds are
  // minutes apart and this VM's speed swings by itself (run/cold_pairs.ts).
  // Its unmeasured first start of each also warms the module cache.
  console.error(`bench: cold start, ${PLAN.coldStarts} runs side by side`);
  const starts = await coldStartPairs(
    TARGETS.map((target) => ({ name: target, target, ...entryOf(target) })),
    { runs: PLAN.coldStarts, pinned: canPin },
  );
  for (const target of TARGETS) {
    const { wall, cpu } = starts.get(target)!;
    for (const ms of wall) record("coldStartMs", target, ms);
    for (const ms of cpu) record("coldStartCpuMs", target, ms);
  }
  for (let round = 1; round <= rounds; round++) {
    const order = nextOrder("idle");
    console.error(`bench: round ${round}/${rounds}: ${order.join(", ")}`);
    for (const target of order) await measureIdle(target);
    if (!args.values.idle) await measureTraffic(order);
  }
} finally {
  // A failed run (an echo mismatch, a server that never answered) leaves nothing behind.
  killRunning();
}

const rows = compare(figures(PLAN, idleCounts), samples);

const setup = [
  `Load average (1 min) ${loadBefore} before the run, ${loadAverage()} after it.`,
  `${rounds} rounds of pairs (${
    args.values.idle
      ? "idle only"
      : `${PLAN.pairsPerRound} of small messages and of latency, one of the rest`
  }), reference and service back to back, the order alternating; ratios are the median of the per-pair ratios (min-max, pairs); ${cores} cores (${cpuModel}); Deno ${deno}; ${
    canPin
      ? "server pinned to CPU 0 and load generator to CPU 1 with taskset"
      : "not pinned"
  }.`,
  ...(serviceEntry === undefined
    ? []
    : [`Service run from ${serviceEntry} (--service-entry).`]),
  ...(noV8Flags ? ["Service run without V8 flags (--no-v8-flags)."] : []),
  `Every server measured ${SETTLE_MS} ms after its first echo.`,
  `Service limits at their defaults except, raised for the run: ${
    Object.entries(RAISED_LIMITS).map(([name, value]) => `${name}=${value}`)
      .join(", ")
  }.`,
  `Connections the memory guard shed (1013) during large messages, per round: ${
    samples["large.shed"]?.service.join(", ") ?? "not measured"
  }.`,
  ...(idleCounts.length < PLAN.idle.length
    ? [`Idle counts above ${fdLimit - 200} skipped: ulimit -n is ${fdLimit}.`]
    : []),
];
const table = [
  "| Figure | Unit | Reference median (min–max) | Service median (min–max) | Service / reference: median of pairs (min–max, pairs) | Target | |",
  "| --- | --- | --- | --- | --- | --- | --- |",
  ...rows.map((row) => row.line),
].join("\n");
console.log(`${setup.join("\n")}\n\n${table}`);

const results = new URL("./results/", import.meta.url);
await Deno.mkdir(results, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const file = new URL(
  `bench-${stamp}${quick ? "-quick" : ""}${
    args.values.idle ? "-idle" : ""
  }.json`,
  results,
);
await Deno.writeTextFile(
  file,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      quick,
      idleOnly: args.values.idle,
      rounds,
      plan: PLAN,
      machine: { cores, cpuModel, deno, pinned: canPin, fdLimit },
      raisedLimits: RAISED_LIMITS,
      serviceEntry: serviceEntry ?? null,
      noV8Flags,
      settleMs: SETTLE_MS,
      figures: rows.map(({ line: _, ...row }) => row),
      samples,
      seconds: (performance.now() - began) / 1000,
    },
    null,
    2,
  ) + "\n",
);
console.error(
  `bench: wrote ${file.pathname} after ${
    Math.round((performance.now() - began) / 1000)
  } s`,
);
