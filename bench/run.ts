/**
 * `deno task bench [--quick] [--rounds N] [--scale]`: runs the same scenarios against
 * the bare Deno echo (the reference) and against the service, alternating
 * reference, service, reference, service over the rounds, each on a fresh
 * process on a free loopback port. Prints a markdown table of medians (with
 * min-max) and service / reference ratios, and writes everything as JSON to
 * `bench/results/`.
 *
 * The service runs with the `deno task start` flags and every limit at its
 * default, except the per-connection rate limits and the per-IP cap, which
 * are raised (but left on) because all load comes from one loopback address.
 *
 * `--scale` runs only the scale curve instead (`bench/scale.ts`): 1,000,
 * 10,000 and 50,000 open connections, with MAX_CONNECTIONS and MAX_RSS_BYTES
 * raised to fit them.
 *
 * @module
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { ROOT, startTaskArgs } from "./service.ts";
import {
  raiseFdLimit,
  SCALE_STEPS,
  type ScaleCurve,
  scaleCurve,
} from "./scale.ts";
import {
  echoFrames,
  echoOnce,
  handshakes,
  latency,
  openIdle,
  type RawSocket,
  roundTrip,
  throughput,
} from "./load.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string", default: "3" },
    scale: { type: "boolean", default: false },
  },
});
const quick = args.values.quick;
const rounds = Number(args.values.rounds);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) {
  console.error(
    `bench: --rounds must be an integer 1-20, got ${args.values.rounds}`,
  );
  Deno.exit(2);
}

/** What each scenario does; `--quick` shortens every one. */
const PLAN = quick
  ? {
    smallMs: 1500,
    latencyMs: 1000,
    largeMs: 1000,
    handshakes: 1000,
    idle: [1000],
  }
  : {
    smallMs: 10_000,
    latencyMs: 5000,
    largeMs: 5000,
    handshakes: 5000,
    idle: [1000, 5000, 10_000],
  };

/** Raised for the run; everything else stays at its default. */
export const RAISED_LIMITS: Record<string, string> = {
  RATE_LIMIT_MESSAGES_PER_SECOND: "1000000000",
  RATE_LIMIT_MESSAGE_BURST: "1000000000",
  RATE_LIMIT_BYTES_PER_SECOND: String(2 ** 40),
  RATE_LIMIT_BYTE_BURST: String(2 ** 40),
  // Every load connection comes from 127.0.0.1: one address.
  RATE_LIMIT_IP_MESSAGES_PER_SECOND: "1000000000",
  RATE_LIMIT_IP_MESSAGE_BURST: "1000000000",
  MAX_CONNECTIONS_PER_IP: "20000",
  // Opening 10,000 idle connections is no message flow, and on a busy
  // machine the loop runs late: the overload watch took it for a flood and
  // recycled the listener mid-scenario (ConnectionReset, load average 28).
  EVENT_LOOP_STALL_MS: "0",
};

type Target = "reference" | "service";
const TARGETS: Target[] = ["reference", "service"];

async function shell(command: string): Promise<string> {
  const output = await new Deno.Command("sh", { args: ["-c", command] })
    .output();
  return new TextDecoder().decode(output.stdout).trim();
}

const cores = navigator.hardwareConcurrency;
const canPin = cores >= 2 && (await shell("command -v taskset")) !== "";
if (canPin) await shell(`taskset -a -c -p 1 ${Deno.pid} >/dev/null`);
const fdLimit = Number(await shell("ulimit -n"));
const idleCounts = PLAN.idle.filter((count) => count + 200 <= fdLimit);

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

interface Server {
  child: Deno.ChildProcess;
  port: number;
  coldStartMs: number;
}

/** Servers still running: killed if the run is interrupted. */
const running = new Set<Deno.ChildProcess>();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    for (const child of running) child.kill("SIGKILL");
    console.error(`bench: ${signal}: stopped ${running.size} server(s)`);
    Deno.exit(130);
  });
}

const small = echoFrames(1, new TextEncoder().encode("x".repeat(32)));
const large = echoFrames(
  2,
  crypto.getRandomValues(new Uint8Array(64 * 1024)),
);

/** Spawns a target and measures the time to its first echo. */
async function start(
  target: Target,
  extraEnv: Record<string, string> = {},
): Promise<Server> {
  const port = freePort();
  const command = target === "reference"
    ? [
      Deno.execPath(),
      "run",
      "--allow-net",
      "--allow-env=PORT",
      "bench/reference_server.ts",
    ]
    : [Deno.execPath(), ...await startTaskArgs()];
  const pinned = canPin ? ["taskset", "-c", "0", ...command] : command;
  const started = performance.now();
  const child = new Deno.Command(pinned[0]!, {
    args: pinned.slice(1),
    cwd: ROOT,
    env: {
      PORT: String(port),
      BIND_ADDRESS: "127.0.0.1",
      ...(target === "service" ? { ...RAISED_LIMITS, ...extraEnv } : {}),
    },
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  running.add(child);
  for (;;) {
    try {
      await roundTrip(port, small);
      break;
    } catch (error) {
      if (!(error instanceof Deno.errors.ConnectionRefused)) throw error;
      if (performance.now() - started > 30_000) {
        throw new Error(`${target} did not answer within 30 s`);
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
  return { child, port, coldStartMs: performance.now() - started };
}

async function stop(server: Server): Promise<void> {
  server.child.kill("SIGTERM");
  const killer = setTimeout(() => server.child.kill("SIGKILL"), 10_000);
  await server.child.status;
  clearTimeout(killer);
  running.delete(server.child);
}

function rssKiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
}

/**
 * Peak RSS of a process while `run` runs, in KiB: the kernel's high-water
 * mark (VmHWM), reset first through `/proc/<pid>/clear_refs`; where that
 * write is not allowed, the highest of samples taken every 5 ms.
 */
async function peakRssKiB<T>(
  pid: number,
  run: () => Promise<T>,
): Promise<{ peakKiB: number; result: T }> {
  let reset = true;
  try {
    Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5");
  } catch {
    reset = false;
  }
  let sampled = rssKiB(pid);
  const sampler = setInterval(() => {
    sampled = Math.max(sampled, rssKiB(pid));
  }, 5);
  try {
    const result = await run();
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)![1]);
    return { peakKiB: reset ? hwm : sampled, result };
  } finally {
    clearInterval(sampler);
  }
}

/** Connections the service's memory guard has shed (closed with 1013) so far. */
async function shedCount(port: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`);
  const { memory } = await response.json();
  return memory.shed.memory_budget + memory.shed.rss;
}

/** User plus system CPU seconds of a process. */
function cpuSeconds(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`)
    .split(") ")[1]!.split(" ");
  // utime and stime are fields 14 and 15, in clock ticks (100 per second).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

type Samples = Record<string, Record<Target, number[]>>;
const samples: Samples = {};
function record(figure: string, target: Target, value: number) {
  samples[figure] ??= { reference: [], service: [] };
  samples[figure][target].push(value);
}

async function measureIdle(target: Target) {
  const server = await start(target);
  record("coldStartMs", target, server.coldStartMs);
  const base = rssKiB(server.child.pid);
  record("startRssMiB", target, base / 1024);
  const sockets: RawSocket[] = [];
  try {
    for (const count of idleCounts) {
      await openIdle(server.port, sockets, count);
      // The newest connection echoes: the server has caught up. No extra
      // connection, so 10,000 fits under the default MAX_CONNECTIONS.
      await echoOnce(sockets.at(-1)!, small);
      record(
        `idleKiB.${count}`,
        target,
        (rssKiB(server.child.pid) - base) / count,
      );
    }
  } finally {
    for (const { conn } of sockets) conn.close();
    await stop(server);
  }
}

async function measureTraffic(target: Target) {
  const server = await start(target);
  try {
    await traffic(target, server);
  } catch (error) {
    // A 503 or a closed connection from the service is most likely its memory
    // guard: say so, with the numbers, rather than only "answered 503".
    if (target === "service") {
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
    throw error;
  } finally {
    await stop(server);
  }
}

async function traffic(target: Target, server: Server) {
  const cpuBefore = process.cpuUsage();
  const serverBefore = cpuSeconds(server.child.pid);
  const wallBefore = performance.now();
  const smallRun = await throughput({
    port: server.port,
    connections: 50,
    inFlight: 16,
    frames: small,
    durationMs: PLAN.smallMs,
  });
  const wall = (performance.now() - wallBefore) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  record("small.messagesPerSecond", target, smallRun.messagesPerSecond);
  record("cpu.loadGenerator", target, (cpu.user + cpu.system) / 1e6 / wall);
  record(
    "cpu.server",
    target,
    (cpuSeconds(server.child.pid) - serverBefore) / wall,
  );

  const rtt = await latency({
    port: server.port,
    frames: small,
    durationMs: PLAN.latencyMs,
  });
  record("latency.p50", target, rtt.p50);
  record("latency.p99", target, rtt.p99);
  record("latency.max", target, rtt.max);

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

  // Unmeasured: lets both JITs compile the handshake path first, so the
  // figure is the steady rate rather than compile time (cold start has that).
  await handshakes({
    port: server.port,
    total: PLAN.handshakes / 5,
    concurrency: 100,
  });
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

/** The figures in table order: how each compares and what it must meet. */
const FIGURES: Array<{
  key: string;
  label: string;
  unit: string;
  better: "higher" | "lower" | "info";
  target?: number;
}> = [
  {
    key: "small.messagesPerSecond",
    label: "Small messages: 32 B text, 50 conns × 16 in flight",
    unit: "msg/s",
    better: "higher",
    target: 0.95,
  },
  {
    key: "latency.p50",
    label: "Latency p50: 1 conn, 1 in flight, 32 B",
    unit: "µs",
    better: "lower",
  },
  {
    key: "latency.p99",
    label: "Latency p99",
    unit: "µs",
    better: "lower",
    target: 1.1,
  },
  { key: "latency.max", label: "Latency max", unit: "µs", better: "lower" },
  {
    key: "large.MiBPerSecond",
    label: "Large messages: 64 KiB binary, 8 conns × 4 in flight",
    unit: "MiB/s",
    better: "higher",
  },
  {
    key: "large.peakRssMiB",
    label: "Peak server RSS during large messages",
    unit: "MiB",
    better: "lower",
    target: 1.25,
  },
  {
    key: "handshakes.perSecond",
    label:
      `Handshakes: ${PLAN.handshakes} connect-and-close, 100 concurrent (after ${
        PLAN.handshakes / 5
      } unmeasured)`,
    unit: "/s",
    better: "higher",
    target: 0.9,
  },
  {
    key: "handshakes.p99Ms",
    label: "Handshake p99: connect to 101",
    unit: "ms",
    better: "lower",
    target: 1.2,
  },
  {
    key: "handshakes.serverCpuMicros",
    label: "Server CPU per handshake",
    unit: "µs",
    better: "info",
  },
  ...idleCounts.map((count) => ({
    key: `idleKiB.${count}`,
    label: `Server RSS per idle connection, ${count} open`,
    unit: "KiB",
    better: "lower" as const,
    target: 1.1,
  })),
  {
    key: "coldStartMs",
    label: "Cold start: spawn to first echo",
    unit: "ms",
    better: "lower",
    target: 1.3,
  },
  {
    key: "startRssMiB",
    label: "Server RSS at start (after the first echo)",
    unit: "MiB",
    better: "lower",
    target: 1.3,
  },
  {
    key: "cpu.server",
    label: "Server CPU during small messages",
    unit: "cores",
    better: "info",
  },
  {
    key: "cpu.loadGenerator",
    label: "Load generator CPU during small messages",
    unit: "cores",
    better: "info",
  },
];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2
    ? sorted[middle]!
    : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function format(value: number): string {
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString("en");
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function cell(values: number[]): string {
  return `${format(median(values))} (${format(Math.min(...values))}–${
    format(Math.max(...values))
  })`;
}

const began = performance.now();
/** The 1-minute load average: how busy the machine was around the run. */
const loadAverage = () => Deno.readTextFileSync("/proc/loadavg").split(" ")[0];
const loadBefore = loadAverage();
const deno = Deno.version.deno;
const cpuModel = /model name\s*:\s*(.*)/.exec(
  Deno.readTextFileSync("/proc/cpuinfo"),
)?.[1] ?? "unknown CPU";
console.error(
  `bench: ${rounds} rounds${
    quick ? " (--quick)" : ""
  }, ${cores} cores (${cpuModel}), Deno ${deno}${
    canPin ? ", server pinned to CPU 0, load generator to CPU 1" : ", unpinned"
  }`,
);
if (args.values.scale) await runScale();
try {
  // One unmeasured start of each, so both cold starts find a warm module cache.
  for (const target of TARGETS) await stop(await start(target));
  for (let round = 1; round <= rounds; round++) {
    for (const target of TARGETS) {
      console.error(`bench: round ${round}/${rounds}: ${target}`);
      await measureIdle(target);
      await measureTraffic(target);
    }
  }
} finally {
  // A failed run (an echo mismatch, a server that never answered) leaves nothing behind.
  for (const child of running) child.kill("SIGKILL");
}

const rows = FIGURES.filter((figure) => samples[figure.key]).map((figure) => {
  const { reference, service } = samples[figure.key]!;
  const ratio = median(service) / median(reference);
  const met = figure.target === undefined
    ? ""
    : (figure.better === "higher"
        ? ratio >= figure.target
        : ratio <= figure.target)
    ? "met"
    : "**missed**";
  const target = figure.target === undefined
    ? "–"
    : `${figure.better === "higher" ? "≥" : "≤"} ${figure.target}`;
  return {
    ...figure,
    reference: median(reference),
    service: median(service),
    ratio,
    met,
    line: `| ${figure.label} | ${figure.unit} | ${cell(reference)} | ${
      cell(service)
    } | ${ratio.toFixed(2)} | ${target} | ${met} |`,
  };
});

const setup = [
  `Load average (1 min) ${loadBefore} before the run, ${loadAverage()} after it.`,
  `${rounds} rounds, reference and service alternating; ${cores} cores (${cpuModel}); Deno ${deno}; ${
    canPin
      ? "server pinned to CPU 0 and load generator to CPU 1 with taskset"
      : "not pinned"
  }.`,
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
  "| Figure | Unit | Reference median (min–max) | Service median (min–max) | Service / reference | Target | |",
  "| --- | --- | --- | --- | --- | --- | --- |",
  ...rows.map((row) => row.line),
].join("\n");
console.log(`${setup.join("\n")}\n\n${table}`);

const results = new URL("./results/", import.meta.url);
await Deno.mkdir(results, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const file = new URL(`bench-${stamp}${quick ? "-quick" : ""}.json`, results);
await Deno.writeTextFile(
  file,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      quick,
      rounds,
      plan: PLAN,
      machine: { cores, cpuModel, deno, pinned: canPin, fdLimit },
      raisedLimits: RAISED_LIMITS,
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

/** `--scale`: the curve for both targets, alternating over the rounds. */
async function runScale(): Promise<never> {
  const largest = SCALE_STEPS.at(-1)!;
  const limit = await raiseFdLimit(2 * largest + 10_000);
  // The service keeps 10% of the limit for other descriptors; the probe
  // and the bystander need a few hundred more.
  const fits = Math.floor((limit * 0.9 - 500) / 1000) * 1000;
  const steps = SCALE_STEPS.filter((open) => open <= fits);
  if (steps.length < SCALE_STEPS.length) {
    if (fits > (steps.at(-1) ?? 0)) steps.push(fits);
    console.error(
      `bench: the open-file limit is ${limit} and prlimit could not raise it (it needs root or CAP_SYS_RESOURCE): ${
        SCALE_STEPS.filter((open) => open > fits).join(", ")
      } skipped, ${fits} is the largest step that fits`,
    );
  }
  const env = {
    MAX_CONNECTIONS: String(largest + 10_000),
    MAX_RSS_BYTES: String(8 * 2 ** 30),
  };
  const curves: Array<{ target: Target; round: number; curve: ScaleCurve }> =
    [];
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const target of TARGETS) {
        console.error(`bench: scale round ${round}/${rounds}: ${target}`);
        const server = await start(target, env);
        try {
          curves.push({
            target,
            round,
            curve: await scaleCurve(server, steps),
          });
        } finally {
          await stop(server);
        }
      }
    }
  } finally {
    for (const child of running) child.kill("SIGKILL");
  }
  const lines = [
    `Load average (1 min) ${loadBefore} before the run, ${loadAverage()} after it.`,
    `Open-file limit ${limit}${
      steps.length < SCALE_STEPS.length || steps.at(-1) !== largest
        ? ` (could not be raised: steps above ${fits} skipped)`
        : ""
    }; service limits as the main run, plus ${
      Object.entries(env).map(([name, value]) => `${name}=${value}`).join(", ")
    }.`,
    "",
    "| Target | Round | Open | RSS MiB | KiB per connection | Handshake p99 ms | Bystander echo p99 ms | Ramp s |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const { target, round, curve } of curves) {
    for (const step of curve.steps) {
      lines.push(
        `| ${target} | ${round} | ${step.open.toLocaleString("en")} | ${
          format(step.rssMiB)
        } | ${format(step.kibPerConnection)} | ${
          format(step.handshakeP99Ms)
        } | ${format(step.bystanderP99Ms)} | ${format(step.rampSeconds)} |`,
      );
    }
    if (curve.stoppedAt) {
      lines.push(
        `| ${target} | ${round} | stopped at ${curve.stoppedAt.open}: ${curve.stoppedAt.reason} | | | | | |`,
      );
    }
  }
  console.log(lines.join("\n"));
  const results = new URL("./results/", import.meta.url);
  await Deno.mkdir(results, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const file = new URL(`scale-${stamp}.json`, results);
  await Deno.writeTextFile(
    file,
    JSON.stringify(
      { date: new Date().toISOString(), limit, env, curves },
      null,
      2,
    ) +
      "\n",
  );
  console.error(`bench: wrote ${file.pathname}`);
  Deno.exit(0);
}
