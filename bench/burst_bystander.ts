/**
 * The bystander under THE BURST, alone (issue 21): 40 addresses
 * (127.0.1.1-40) × 32 raw clients send 64 KiB binary frames to `/echo` as
 * fast as they can and never read, for 20 s, while one bystander on
 * 127.0.0.1 sends a 32-byte text message every 100 ms and times its echo.
 * Prints the bystander's worst and 99th-percentile echo per run, and the
 * server's peak RSS. The soak (`deno task soak`) runs the same burst among
 * other phases; this one repeats only it, so runs can be compared.
 *
 * Usage: `deno run -A bench/burst_bystander.ts [--runs 3] [--busy]
 * [--profile DIR]`. `--busy` keeps one core busy with another process for
 * the whole run; `--profile DIR` writes a V8 CPU profile of the server per
 * run (`DIR/burst-N.cpuprofile`, Deno's `--cpu-prof`, for Chrome DevTools).
 * Each run starts a fresh server with the `deno task start` flags;
 * `--no-stall-watch` sets EVENT_LOOP_STALL_MS=0 (the overload watch's
 * event-loop stall trigger off), `BURST_SERVER_LOG=1` shows the server's log,
 * `BURST_TRACE=1` prints every echo slower than 300 ms with its send time.
 * Per run it also prints when the worst answered echo was sent, the server's
 * CPU seconds, and how late this process's own 100 ms timer fired: a server
 * that used little CPU while this timer stayed on time had work queued that
 * the machine did not give it a core for.
 *
 * The flooding clients run in a child process (`--flood PORT MS`), so their
 * work does not delay the bystander's clock.
 *
 * @module
 */
import net from "node:net";
import { parseArgs } from "node:util";
import { clientFrame, freePort, upgradeRequest, withDeadline } from "./wire.ts";
import { ROOT, startTaskArgs } from "./service.ts";

const HOLD_MS = 20_000;
const ADDRESSES = 40;
const PER_ADDRESS = 32;
const FRAME = clientFrame(0x2, new Uint8Array(64 * 1024));
const BYSTANDER_EVERY_MS = 100;

const args = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "3" },
    busy: { type: "boolean", default: false },
    profile: { type: "string" },
    flood: { type: "string" },
    hold: { type: "string", default: String(HOLD_MS) },
    "no-stall-watch": { type: "boolean", default: false },
  },
  allowPositionals: true,
});

if (args.values.flood) {
  await flood(Number(args.values.flood), Number(args.values.hold));
  Deno.exit(0);
}

/** The flooders: ramped over 1 s, reconnecting after 500 ms while it lasts. */
async function flood(port: number, holdMs: number): Promise<void> {
  const until = performance.now() + holdMs;
  const sockets = new Set<net.Socket>();
  const statuses = new Map<string, number>();
  const one = async (localAddress: string, startMs: number) => {
    await new Promise((resolve) => setTimeout(resolve, startMs));
    while (performance.now() < until) {
      const outcome = await new Promise<string>((resolve) => {
        const socket = net.connect({ host: "127.0.0.1", port, localAddress });
        sockets.add(socket);
        let upgraded = false;
        socket.on("data", (chunk: Uint8Array) => {
          if (upgraded) return;
          const head = new TextDecoder().decode(chunk.subarray(0, 12));
          upgraded = head.startsWith("HTTP/1.1 101");
          if (!upgraded) return socket.destroy();
          // Never read again.
          socket.pause();
          const pump = () => {
            if (!socket.destroyed) socket.write(FRAME, (e) => e || pump());
          };
          pump();
        });
        socket.on("error", () => {});
        socket.on("close", () => {
          sockets.delete(socket);
          resolve(upgraded ? "101 then closed" : "refused");
        });
        socket.on("connect", () => socket.write(upgradeRequest("/echo")));
        setTimeout(
          () => socket.destroy(),
          Math.max(0, until - performance.now()),
        );
      });
      statuses.set(outcome, (statuses.get(outcome) ?? 0) + 1);
      if (performance.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  };
  const clients: Promise<void>[] = [];
  let i = 0;
  for (let client = 0; client < PER_ADDRESS; client++) {
    for (let a = 1; a <= ADDRESSES; a++) {
      clients.push(
        one(`127.0.1.${a}`, (i++ * 1000) / (ADDRESSES * PER_ADDRESS)),
      );
    }
  }
  await Promise.all(clients);
  for (const socket of sockets) socket.destroy();
  console.error(`flood: ${JSON.stringify(Object.fromEntries(statuses))}`);
}

/** One run: a fresh server, the burst, the bystander; returns its figures. */
async function run(index: number) {
  const port = freePort();
  const startArgs = await startTaskArgs();
  if (args.values.profile) {
    startArgs.splice(
      1,
      0,
      "--cpu-prof",
      `--cpu-prof-dir=${args.values.profile}`,
      `--cpu-prof-name=burst-${index}.cpuprofile`,
    );
  }
  const server = new Deno.Command(Deno.execPath(), {
    args: startArgs,
    cwd: ROOT,
    env: {
      PORT: String(port),
      BIND_ADDRESS: "127.0.0.1",
      NO_COLOR: "1",
      ...(args.values["no-stall-watch"] ? { EVENT_LOOP_STALL_MS: "0" } : {}),
    },
    clearEnv: true,
    stdin: "null",
    stdout: Deno.env.get("BURST_SERVER_LOG") ? "inherit" : "null",
    stderr: "piped",
  }).spawn();
  const stderr = server.stderr.pipeThrough(new TextDecoderStream()).getReader();
  (async () => {
    while (!(await stderr.read()).done) { /* drain */ }
  })();
  const rssKiB = () =>
    Number(
      /VmRSS:\s+(\d+)/.exec(
        Deno.readTextFileSync(`/proc/${server.pid}/status`),
      )?.[1] ?? 0,
    );
  // Wait until it answers.
  await withDeadline(
    (async () => {
      for (;;) {
        try {
          const response = await fetch(`http://127.0.0.1:${port}/healthz`);
          await response.body?.cancel();
          return;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    })(),
    15_000,
    "the server to answer",
  );
  const socket = new WebSocket(`ws://127.0.0.1:${port}/echo`);
  await withDeadline(
    new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error("bystander cannot connect"));
    }),
    5000,
    "the bystander",
  );
  /** A close the server sent during the run (the bench closes at the end). */
  let closedBy = "";
  socket.onclose = (event) => {
    closedBy ||= `${event.code} ${event.reason}`;
  };
  const sentAt = new Map<string, number>();
  const rtts: number[] = [];
  /** The worst echo and when it was sent, in ms after the flood started. */
  let worst = { ms: 0, atMs: 0 };
  let floodStart = performance.now();
  socket.onmessage = (event) => {
    const at = sentAt.get(event.data);
    if (at === undefined) return;
    sentAt.delete(event.data);
    const ms = performance.now() - at;
    rtts.push(ms);
    if (ms > worst.ms) worst = { ms, atMs: at - floodStart };
    if (Deno.env.get("BURST_TRACE") && ms > 300) {
      console.error(
        `slow echo ${Math.round(ms)} ms sent at ${
          Math.round(at - floodStart)
        } ms`,
      );
    }
  };
  let seq = 0;
  // How late this process's own 100 ms timer fires: what the machine's load
  // alone does to a process that has almost nothing to do.
  let lastTick = performance.now();
  let worstTimerLateMs = 0;
  const ticker = setInterval(() => {
    const tick = performance.now();
    worstTimerLateMs = Math.max(
      worstTimerLateMs,
      tick - lastTick - BYSTANDER_EVERY_MS,
    );
    lastTick = tick;
    if (socket.readyState !== WebSocket.OPEN) return;
    const text = `bystander ${String(seq++).padStart(22, "0")}`;
    sentAt.set(text, performance.now());
    socket.send(text);
  }, BYSTANDER_EVERY_MS);

  floodStart = performance.now();
  const flooder = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--flood",
      String(port),
      "--hold",
      args.values.hold,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let peakKiB = 0;
  const sampler = setInterval(() => {
    peakKiB = Math.max(peakKiB, rssKiB());
  }, 250);
  const floodOut = await new Response(flooder.stderr).text();
  await flooder.status;
  // Messages still unanswered count with their wait so far.
  const now = performance.now();
  const unanswered = [...sentAt.values()].map((at) => now - at);
  clearInterval(ticker);
  clearInterval(sampler);
  // utime + stime, in clock ticks (100 per second on Linux).
  const stat = Deno.readTextFileSync(`/proc/${server.pid}/stat`)
    .replace(/^.*\) /, "").split(" ");
  const cpuS = (Number(stat[11]) + Number(stat[12])) / 100;
  socket.onclose = null;
  socket.close();
  server.kill("SIGTERM");
  await withDeadline(server.status, 15_000, "the server to exit");
  const all = [...rtts, ...unanswered].sort((a, b) => a - b);
  return {
    worstMs: Math.round(all.at(-1) ?? NaN),
    p99Ms: Math.round(all[Math.floor(all.length * 0.99)] ?? NaN),
    echoes: rtts.length,
    unanswered: unanswered.length,
    peakMiB: Math.round(peakKiB / 1024),
    flood: floodOut.trim(),
    closedBy,
    worstAtS: (worst.atMs / 1000).toFixed(1),
    cpuS,
    worstTimerLateMs: Math.round(worstTimerLateMs),
  };
}

const busy = args.values.busy
  ? new Deno.Command(Deno.execPath(), {
    args: ["eval", "for (;;) {}"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn()
  : undefined;
try {
  if (args.values.profile) {
    await Deno.mkdir(args.values.profile, { recursive: true });
  }
  const runs = Number(args.values.runs);
  console.log(
    `| run | worst echo (ms) | p99 (ms) | echoes | unanswered | peak RSS (MiB) |${
      busy ? " one core busy" : ""
    }`,
  );
  console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
  for (let i = 1; i <= runs; i++) {
    const figures = await run(i);
    console.log(
      `| ${i} | ${figures.worstMs} | ${figures.p99Ms} | ${figures.echoes} | ${figures.unanswered} | ${figures.peakMiB} |`,
    );
    console.error(
      `${figures.flood} (worst answered echo sent ${figures.worstAtS} s into the flood; server CPU ${figures.cpuS} s; this process's 100 ms timer up to ${figures.worstTimerLateMs} ms late)`,
    );
    if (figures.closedBy) {
      console.error(`the bystander was closed: ${figures.closedBy}`);
    }
  }
} finally {
  busy?.kill("SIGKILL");
  await busy?.status;
}
