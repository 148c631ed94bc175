/**
 * The server watched from outside, once a second each: its VmRSS and its
 * `/healthz` answer (2 s deadline).
 *
 * @module
 */
import { errorOutcome } from "../wire.ts";
import type { HealthSample, RssSample } from "./record.ts";
import { HOST, round, sleep } from "./shared.ts";
import { readRssKiB } from "./server.ts";

/**
 * Samples the RSS of `pid` into `rss` every second until `signal` aborts or
 * the process is gone; `onSample(kib)` sees each one (the safety stop).
 */
export async function sampleRss(options: {
  pid: number;
  rss: RssSample[];
  phase: () => string;
  now: () => number;
  signal: AbortSignal;
  onSample: (kib: number) => void;
}): Promise<void> {
  const { pid, rss, phase, now, signal, onSample } = options;
  for (let i = 0; i < 100_000 && !signal.aborted; i++) {
    const kib = readRssKiB(pid);
    if (kib === undefined) break;
    rss.push([round(now(), 1), kib, phase()]);
    onSample(kib);
    await sleep(1000, signal);
  }
}

/** Asks `/healthz` every second until `signal` aborts, into `health`. */
export async function sampleHealth(options: {
  port: number;
  health: HealthSample[];
  now: () => number;
  signal: AbortSignal;
}): Promise<void> {
  const { port, health, now, signal } = options;
  for (let i = 0; i < 100_000 && !signal.aborted; i++) {
    const started = performance.now();
    const sample: HealthSample = { t: round(now(), 1), status: 0, ms: 0 };
    try {
      const response = await fetch(`http://${HOST}:${port}/healthz`, {
        signal: AbortSignal.any([AbortSignal.timeout(2000), signal]),
      });
      sample.status = response.status;
      sample.body = await response.json();
    } catch (error) {
      sample.status = errorOutcome(error);
    }
    sample.ms = round(performance.now() - started, 1);
    health.push(sample);
    await sleep(1000 - (performance.now() - started), signal);
  }
}
