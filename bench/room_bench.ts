/**
 * `deno task bench:rooms [--messages N] [--receivers N]`: one sender and 63
 * receivers in one room, measured two ways, each on fresh processes on free
 * loopback ports with the `deno task start` flags:
 *
 * - in one process: every member on the same service;
 * - across workers: `deno task serve` with two workers (DENO_JOBS=2); the
 *   kernel spreads the members over both, so about half the deliveries cross
 *   a `BroadcastChannel`;
 * - through Redis: the sender on one service, the receivers on another, both
 *   with REDIS_URL pointing at a redis-server started here (Debian's), so
 *   every delivery crosses Redis.
 *
 * The sender sends 64-byte text messages in windows of {@link WINDOW}: a
 * window goes out once every receiver has the one before, so the service is
 * kept busy without piling up backlogs. Each message carries the time it was
 * sent (this process's clock, shared by sender and receivers). Prints
 * delivered messages per second (all receivers together) and the latency
 * percentiles of every delivery. The receivers all run in this one process,
 * which reads 63 sockets on one thread: the figures are a floor for the
 * service, not a ceiling.
 *
 * Rate limits are raised (all load comes from one loopback address), every
 * other limit is at its default.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { killGroup, spawnServeTask, startService } from "./service.ts";
import { startRedis } from "./redis.ts";
import { freePort, withDeadline } from "./wire.ts";

/** Messages sent before the sender waits for every receiver to catch up. */
export const WINDOW = 50;

const args = parseArgs({
  args: Deno.args,
  options: {
    messages: { type: "string", default: "5000" },
    receivers: { type: "string", default: "63" },
  },
});
const MESSAGES = Number(args.values.messages);
const RECEIVERS = Number(args.values.receivers);

const LIMITS = {
  PORT: "0",
  BIND_ADDRESS: "127.0.0.1",
  RATE_LIMIT_MESSAGES_PER_SECOND: "0",
  RATE_LIMIT_IP_MESSAGES_PER_SECOND: "0",
  RATE_LIMIT_BYTES_PER_SECOND: "0",
  MAX_CONNECTIONS_PER_IP: "1000",
  ROOM_MAX_MEMBERS: "1000",
};

interface Result {
  deliveries: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

function open(url: string): Promise<WebSocket> {
  const socket = new WebSocket(url);
  return withDeadline(
    new Promise<WebSocket>((resolve, reject) => {
      socket.onopen = () => resolve(socket);
      socket.onerror = () => reject(new Error(`Cannot connect to ${url}`));
    }),
    30_000,
    `the open on ${url}`,
  );
}

/** Waits until every receiver's count reaches `target`. */
function caughtUp(
  counts: number[],
  target: number,
  waiters: Array<() => void>,
) {
  return new Promise<void>((resolve) => {
    const check = () => {
      if (counts.every((count) => count >= target)) resolve();
      else waiters.push(check);
    };
    check();
  });
}

async function run(senderUrl: string, receiverUrl: string): Promise<Result> {
  const receivers: WebSocket[] = [];
  for (let i = 0; i < RECEIVERS; i++) receivers.push(await open(receiverUrl));
  const sender = await open(senderUrl);
  const counts = new Array<number>(RECEIVERS).fill(0);
  const latencies = new Float64Array(MESSAGES * RECEIVERS);
  let recorded = 0;
  const waiters: Array<() => void> = [];
  const warmed = new Array<number>(RECEIVERS).fill(0);
  receivers.forEach((socket, i) => {
    socket.onmessage = (event) => {
      const text = event.data as string;
      if (text.endsWith("w")) warmed[i]!++;
      else {
        latencies[recorded++] = performance.now() - Number(text.slice(0, 20));
        counts[i]!++;
      }
      for (const waiter of waiters.splice(0)) waiter();
    };
  });
  // Members join before anyone speaks; across Redis, the subscription must
  // be in place: one message is sent until every receiver has it.
  const warmup = "warm-up".padEnd(64, "w");
  const warm = caughtUp(warmed, 1, waiters);
  const retry = setInterval(() => sender.send(warmup), 200);
  sender.send(warmup);
  await withDeadline(warm, 20_000, "every receiver to hear the sender");
  clearInterval(retry);
  const startedAt = performance.now();
  for (let sent = 0; sent < MESSAGES; sent += WINDOW) {
    await withDeadline(
      caughtUp(counts, sent - WINDOW, waiters),
      30_000,
      `receivers to catch up with message ${sent - WINDOW}`,
    );
    for (let i = sent; i < Math.min(sent + WINDOW, MESSAGES); i++) {
      const stamp = performance.now().toFixed(6).padStart(20, "0");
      sender.send(stamp.padEnd(64, "x"));
    }
  }
  await withDeadline(
    caughtUp(counts, MESSAGES, waiters),
    30_000,
    "the last message",
  );
  const seconds = (performance.now() - startedAt) / 1000;
  const sorted = latencies.slice(0, recorded).sort();
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  for (const socket of [sender, ...receivers]) socket.close();
  return {
    deliveries: recorded,
    seconds,
    perSecond: recorded / seconds,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    maxMs: sorted[sorted.length - 1]!,
  };
}

function row(name: string, result: Result): string {
  return `| ${name} | ${result.deliveries} | ${result.seconds.toFixed(2)} | ${
    Math.round(result.perSecond)
  } | ${result.p50Ms.toFixed(2)} | ${result.p99Ms.toFixed(2)} | ${
    result.maxMs.toFixed(2)
  } |`;
}

/** `deno task serve` with two workers on a free port, until it answers. */
async function startServe(): Promise<AsyncDisposable & { port: number }> {
  const port = freePort();
  const child = spawnServeTask(port, { env: LIMITS, output: "null" });
  const deadline = Date.now() + 30_000;
  while (true) {
    try {
      await (await fetch(`http://127.0.0.1:${port}/healthz`)).body?.cancel();
      break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    port,
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await child.status;
      killGroup(child);
    },
  };
}

if (import.meta.main) {
  console.log(
    `1 sender, ${RECEIVERS} receivers, ${MESSAGES} messages of 64 bytes, windows of ${WINDOW}`,
  );
  const lines = [
    "| Path | Deliveries | Seconds | Delivered/s | p50 ms | p99 ms | max ms |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ];
  {
    await using service = await startService(LIMITS);
    const url = `ws://127.0.0.1:${service.port}/room/bench`;
    lines.push(row("one process", await run(url, url)));
  }
  {
    await using serve = await startServe();
    const url = `ws://127.0.0.1:${serve.port}/room/bench`;
    lines.push(row("across two workers", await run(url, url)));
  }
  {
    await using redis = await startRedis();
    const env = { ...LIMITS, REDIS_URL: redis.url };
    await using a = await startService(env);
    await using b = await startService(env);
    lines.push(
      row(
        "through Redis",
        await run(
          `ws://127.0.0.1:${a.port}/room/bench`,
          `ws://127.0.0.1:${b.port}/room/bench`,
        ),
      ),
    );
  }
  console.log(lines.join("\n"));
}
