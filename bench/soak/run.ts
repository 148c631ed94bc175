/**
 * One soak run: starts the server, the samplers and the well-behaved
 * clients, runs the cycles (the burst, the admission check, a settle, then
 * each other hostile phase with a gap) until the time is up, and returns what
 * was recorded. Ctrl-C or the server dying stops it early.
 *
 * @module
 */
import type net from "node:net";
import { Attacker } from "./attacker.ts";
import { admission } from "./clients/churn.ts";
import { startWellBehaved } from "./clients/mod.ts";
import { HOSTILE_PHASES } from "./phases/mod.ts";
import type { SoakOptions } from "./plan.ts";
import type {
  Admission,
  HealthSample,
  PhaseRecord,
  RssSample,
  SoakRun,
  WellBehaved,
} from "./record.ts";
import { sampleHealth, sampleRss } from "./samplers.ts";
import { startServer } from "./server.ts";
import { HOST, round, sleep } from "./shared.ts";

/** A run and what the JSON file adds to it. */
export interface SoakResult extends SoakRun {
  port: number;
  memTotalKiB: number;
}

/** Stops the run on SIGINT and SIGTERM; returns a function that removes the listeners. */
function onSignals(stop: (signal: Deno.Signal) => void): () => void {
  const handlers = (["SIGINT", "SIGTERM"] as const).map((signal) =>
    [signal, () => stop(signal)] as const
  );
  for (const [signal, handler] of handlers) {
    Deno.addSignalListener(signal, handler);
  }
  return () => {
    for (const [signal, handler] of handlers) {
      Deno.removeSignalListener(signal, handler);
    }
  };
}

/** Runs the soak; progress goes to stderr. */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const { quick, minutes, plan } = options;
  const durationMs = minutes * 60_000;
  const memTotalKiB = Number(
    /MemTotal:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/meminfo"))![1],
  );
  /** Above this the burst is stopped early, to protect the machine. */
  const safetyKiB = Math.min(8 * 1024 * 1024, memTotalKiB * 0.4);

  const stop = new AbortController();
  const began = performance.now();
  const now = () => (performance.now() - began) / 1000;
  const log = (line: string) =>
    console.error(`soak: [${now().toFixed(0).padStart(4)} s] ${line}`);

  const server = await startServer((status) => {
    log(`the server died: ${JSON.stringify(status)}`);
    stop.abort();
  });
  const attacker = new Attacker(stop.signal, (message) => {
    log(`the attacker worker failed: ${message}`);
    stop.abort();
  });
  let interrupted = "";
  const removeSignals = onSignals((signal) => {
    interrupted = signal;
    log(`${signal}: stopping`);
    stop.abort();
  });

  let phase = "start";
  const rss: RssSample[] = [];
  const health: HealthSample[] = [];
  const phases: PhaseRecord[] = [];
  const admissions: Admission[] = [];
  const well: WellBehaved = {
    bystander: [],
    unanswered: [],
    bystanderEvents: {},
    churn: {},
    churnMs: [],
    sse: {},
    sseMs: [],
  };
  let safetyStop = false;
  let metricsAtEnd = "";
  const sockets = new Set<net.Socket>();
  const background: Promise<unknown>[] = [];
  const { port } = server;

  /** Runs hostile phase `index` of the cycle for `holdMs`. */
  const hostile = async (index: number, cycle: number, holdMs: number) => {
    const name = HOSTILE_PHASES[index]!.name;
    if (stop.signal.aborted) return;
    phase = name;
    const record: PhaseRecord = {
      phase: name,
      cycle,
      start: round(now(), 1),
      end: 0,
    };
    phases.push(record);
    log(`cycle ${cycle + 1}: ${name}`);
    const done = await attacker.run(name, cycle, port, holdMs);
    record.end = round(now(), 1);
    if (done) {
      record.counts = done.counts;
      record.detail = done.detail;
    }
  };
  /** A stretch without hostile clients. */
  const quiet = async (name: string, ms: number) => {
    if (stop.signal.aborted) return;
    phase = name;
    phases.push({ phase: name, cycle: -1, start: round(now(), 1), end: 0 });
    await sleep(ms, stop.signal);
    phases.at(-1)!.end = round(now(), 1);
  };

  try {
    await server.ready(stop.signal);
    log(
      `server pid ${server.pid} on ${HOST}:${port}; ${minutes} min${
        quick ? " (--quick)" : ""
      }`,
    );
    background.push(sampleRss({
      pid: server.pid,
      rss,
      phase: () => phase,
      now,
      signal: stop.signal,
      onSample(kib) {
        if (
          kib > safetyKiB && phase === HOSTILE_PHASES[0]!.name && !safetyStop
        ) {
          safetyStop = true;
          log(
            `RSS ${
              (kib / 1024).toFixed(1)
            } MiB above the safety cap: ending the burst`,
          );
          attacker.abort();
        }
      },
    }));
    background.push(
      sampleHealth({ port, health, now, signal: stop.signal }),
    );
    background.push(
      ...startWellBehaved({ port, well, sockets, signal: stop.signal, now }),
    );

    await quiet("warm_up", plan.warmUpMs);
    const cycleMs = plan.burstHoldMs + 3000 + plan.settleMs +
      (HOSTILE_PHASES.length - 1) * (plan.phaseMs + plan.gapMs);
    for (
      let cycle = 0;
      cycle < 1000 && !stop.signal.aborted &&
      (cycle === 0 || performance.now() - began + cycleMs < durationMs);
      cycle++
    ) {
      await hostile(0, cycle, plan.burstHoldMs);
      if (stop.signal.aborted) break;
      phase = "admission";
      const last = await admission(
        port,
        cycle,
        plan.admissionLimitMs,
        stop.signal,
      );
      admissions.push(last);
      log(
        `cycle ${cycle + 1}: new client admitted ${
          last.ms === null
            ? `not within ${plan.admissionLimitMs / 1000} s`
            : `after ${Math.round(last.ms)} ms`
        }`,
      );
      await quiet("settle", plan.settleMs);
      for (let index = 1; index < HOSTILE_PHASES.length; index++) {
        await hostile(index, cycle, plan.phaseMs);
        await quiet("gap", plan.gapMs);
      }
    }
    await quiet("tail", durationMs - (performance.now() - began));
    phase = "end";
    if (server.exit === undefined) {
      metricsAtEnd = await fetch(`http://${HOST}:${port}/metrics`, {
        signal: AbortSignal.timeout(5000),
      }).then((response) => response.text()).catch(() => "");
    }
  } finally {
    stop.abort();
    attacker.terminate();
    for (const socket of sockets) socket.destroy();
    await Promise.allSettled(background);
    await server.stop();
    removeSignals();
  }

  return {
    quick,
    minutes,
    plan,
    rss,
    health,
    phases,
    admissions,
    well,
    metricsAtEnd,
    alive: !server.died,
    serverExit: server.exit,
    serverStderr: server.stderrTail(),
    safetyStop,
    safetyKiB,
    workerError: attacker.error,
    interrupted,
    seconds: now(),
    port,
    memTotalKiB,
  };
}
