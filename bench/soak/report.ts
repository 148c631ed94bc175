/**
 * The soak's report: the targets of issue #12 against what was measured,
 * memory, the well-behaved clients, what each hostile phase saw and the
 * server's own counters, as markdown; and the headline figures for the JSON.
 *
 * @module
 */
import { HOSTILE_PHASES } from "./phases/mod.ts";
import type { SoakRun } from "./record.ts";
import { count, type Counts, HOST, round } from "./shared.ts";

/** The phase that opens each cycle. */
const BURST = HOSTILE_PHASES[0]!.name;

const TARGET_PEAK_RSS_MIB = 512;
const TARGET_BYSTANDER_MS = 1000;
const TARGET_ADMISSION_MS = 5000;

function mib(kib: number): string {
  return (kib / 1024).toFixed(1);
}

function quantile(sorted: number[], q: number): number {
  return sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Least-squares slope of `ys` over `xs`. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

function table(counts: Counts | undefined): string {
  const entries = Object.entries(counts ?? {}).sort((a, b) => b[1] - a[1]);
  return entries.length === 0
    ? "–"
    : entries.map(([key, value]) => `${key} ×${value}`).join(", ");
}

function metricLines(text: string, name: string): Counts {
  const counts: Counts = {};
  const pattern = new RegExp(`^${name}\\{\\w+="([^"]*)"\\} (\\d+)$`, "gm");
  for (const match of text.matchAll(pattern)) {
    counts[match[1]!] = Number(match[2]);
  }
  return counts;
}

export function summarize(
  run: SoakRun,
): { markdown: string; figures: Record<string, unknown> } {
  const { rss, phases, admissions, well, health } = run;
  const kib = rss.map(([, k]) => k);
  const peakKiB = kib.length ? Math.max(...kib) : NaN;
  const bursts = phases.filter((p) => p.phase === BURST);
  // A burst's window runs until its admission check and settle are over.
  const burstWindows = bursts.map((burst) => {
    const next = phases.find((p) =>
      p.start > burst.start && p.phase !== "settle" && p.phase !== BURST
    );
    return [burst.start, next?.start ?? Infinity] as const;
  });
  const inBurst = (t: number) => burstWindows.some(([a, b]) => t >= a && t < b);
  const burstKiB = rss.filter(([t]) => inBurst(t)).map(([, k]) => k);
  const peakBurstKiB = burstKiB.length ? Math.max(...burstKiB) : NaN;
  const firstBurst = bursts[0];
  const startKiB =
    [...rss].reverse().find(([t]) =>
      firstBurst === undefined || t < firstBurst.start
    )?.[1] ?? NaN;
  const firstSettle = phases.find((p) => p.phase === "settle");
  const afterFirstBurstKiB = firstSettle
    ? [...rss].reverse().find(([t]) => t <= firstSettle.end)?.[1] ?? NaN
    : NaN;
  const endKiB = rss.at(-1)?.[1] ?? NaN;

  // RSS minima per cycle: the lowest sample from one burst's start to the next's.
  const cycleMinima = bursts.map((burst, i) => {
    const until = bursts[i + 1]?.start ?? Infinity;
    const inCycle = rss.filter(([t]) => t >= burst.start && t < until);
    return inCycle.length ? Math.min(...inCycle.map(([, k]) => k)) : NaN;
  });
  const cycles = cycleMinima.length;
  const minimaSlopeKiB = cycles >= 2
    ? slope(cycleMinima.map((_, i) => i), cycleMinima)
    : NaN;
  const growthKiB = cycles >= 2 ? minimaSlopeKiB * (cycles - 1) : NaN;
  const flat = cycles < 3
    ? undefined
    : growthKiB <= Math.max(16 * 1024, 0.1 * cycleMinima[0]!);
  const flatVerdict = flat === undefined
    ? `not judged: ${cycles} cycle(s), needs 3 or more (run without --quick)`
    : flat
    ? "flat"
    : "**growing**";

  const latencies = well.bystander.map(([, ms]) => ms).sort((a, b) => a - b);
  const waits = well.unanswered.map(([, ms]) => ms);
  const maxWait = Math.max(latencies.at(-1) ?? 0, ...waits);
  const burstLatencies = well.bystander.filter(([t]) => inBurst(t)).map((
    [, ms],
  ) => ms).sort((a, b) => a - b);
  const admissionTimes = admissions.map((a) => a.ms);
  const worstAdmission = admissionTimes.length === 0
    ? undefined
    : admissionTimes.some((ms) => ms === null)
    ? null
    : Math.max(...(admissionTimes as number[]));

  const phaseCounts: Record<string, Counts> = {};
  for (const p of phases) {
    if (!p.counts) continue;
    const into = phaseCounts[p.phase] ??= {};
    for (const [key, value] of Object.entries(p.counts)) {
      count(into, key, value);
    }
  }
  const healthFailures: Counts = {};
  let healthMaxMs = 0;
  let maxConnections = 0;
  const healthFields = new Set<string>();
  for (const sample of health) {
    if (sample.status !== 200) count(healthFailures, String(sample.status));
    healthMaxMs = Math.max(healthMaxMs, sample.ms);
    for (const key of Object.keys(sample.body ?? {})) healthFields.add(key);
    maxConnections = Math.max(
      maxConnections,
      Number(sample.body?.connections ?? 0),
    );
  }
  const closes = metricLines(run.metricsAtEnd, "ws_echo_closes_total");
  const refusals = metricLines(run.metricsAtEnd, "ws_echo_refusals_total");
  const breaches = metricLines(
    run.metricsAtEnd,
    "ws_echo_limit_breaches_total",
  );

  const met = (ok: boolean | undefined) =>
    ok === undefined ? "–" : ok ? "met" : "**missed**";
  const ms = (value: number | null) =>
    value === null ? "none" : `${Math.round(value).toLocaleString("en")} ms`;
  const figures = {
    alive: run.alive,
    cycles,
    peakRssMiB: round(peakKiB / 1024, 1),
    peakBurstRssMiB: round(peakBurstKiB / 1024, 1),
    startRssMiB: round(startKiB / 1024, 1),
    afterFirstBurstRssMiB: round(afterFirstBurstKiB / 1024, 1),
    endRssMiB: round(endKiB / 1024, 1),
    cycleMinimaMiB: cycleMinima.map((k) => round(k / 1024, 1)),
    minimaSlopeMiBPerCycle: round(minimaSlopeKiB / 1024, 2),
    flat,
    bystanderEchoes: latencies.length,
    bystanderP99Ms: round(quantile(latencies, 0.99), 1),
    bystanderMaxMs: round(maxWait, 1),
    bystanderBurstP99Ms: round(quantile(burstLatencies, 0.99), 1),
    bystanderUnanswered: waits.length,
    admissionsMs: admissionTimes,
    worstAdmissionMs: worstAdmission,
    closesByCode: closes,
    refusalsByReason: refusals,
    breachesByReason: breaches,
  };
  const exit = run.serverExit;
  const lines = [
    `# Soak: ${run.quick ? "--quick" : `${run.minutes} min`}, ${
      Math.round(run.seconds)
    } s, ${cycles} cycle(s)`,
    "",
    `Service started with the \`deno task start\` flags, every limit at its default, on ${HOST}; ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}.`,
    "",
    `Server: ${
      run.alive
        ? "**stayed alive**"
        : `**DIED** (${JSON.stringify(exit)}); last stderr: ${
          JSON.stringify(run.serverStderr.slice(-500))
        }`
    }${
      run.safetyStop
        ? `; burst stopped early at the ${mib(run.safetyKiB)} MiB safety cap`
        : ""
    }${run.workerError ? `; attacker worker failed: ${run.workerError}` : ""}${
      run.interrupted ? `; interrupted by ${run.interrupted}` : ""
    }.`,
    "",
    "| Target (issue #12) | Measured | |",
    "| --- | --- | --- |",
    `| Peak RSS ≤ ${TARGET_PEAK_RSS_MIB} MiB during 40 × 32 flooders | ${
      mib(peakBurstKiB)
    } MiB | ${met(peakBurstKiB <= TARGET_PEAK_RSS_MIB * 1024)} |`,
    `| A bystander never waits over ${TARGET_BYSTANDER_MS} ms | max ${
      ms(maxWait)
    }, p99 ${ms(quantile(latencies, 0.99))} | ${
      met(maxWait <= TARGET_BYSTANDER_MS)
    } |`,
    `| New client admitted ≤ ${TARGET_ADMISSION_MS} ms after the burst | worst ${
      worstAdmission === undefined
        ? "not measured"
        : worstAdmission === null
        ? "not admitted"
        : ms(worstAdmission)
    } | ${
      met(
        worstAdmission === undefined
          ? undefined
          : worstAdmission !== null && worstAdmission <= TARGET_ADMISSION_MS,
      )
    } |`,
    `| RSS flat over the soak | ${flatVerdict} | ${met(flat)} |`,
    `| Server alive | ${run.alive ? "yes" : "no"} | ${met(run.alive)} |`,
    "",
    "## Memory (server VmRSS, sampled every second)",
    "",
    `- Peak overall ${mib(peakKiB)} MiB; peak during bursts ${
      mib(peakBurstKiB)
    } MiB.`,
    `- At start ${mib(startKiB)} MiB, after the first burst (and settle) ${
      mib(afterFirstBurstKiB)
    } MiB, at the end ${mib(endKiB)} MiB.`,
    `- Minimum per cycle: ${
      cycleMinima.map((k) => `${mib(k)}`).join(", ") || "–"
    } MiB; slope ${
      Number.isNaN(minimaSlopeKiB) ? "–" : `${mib(minimaSlopeKiB)} MiB/cycle`
    }: ${flatVerdict}.`,
    "",
    "## Well-behaved clients",
    "",
    `- Bystanders (4, 127.0.0.2-5, 32 B every 100 ms): ${latencies.length} echoes, p50 ${
      ms(quantile(latencies, 0.5))
    }, p99 ${ms(quantile(latencies, 0.99))}, max ${
      ms(maxWait)
    } (including ${waits.length} message(s) unanswered or reconnect waits; a message is given up after 10 s); during bursts p99 ${
      ms(quantile(burstLatencies, 0.99))
    }, max ${ms(burstLatencies.at(-1) ?? null)}. Disconnects: ${
      table(well.bystanderEvents)
    }.`,
    `- Churn (connect, 3 echoes, close): ${table(well.churn)}; p99 ${
      ms(quantile(well.churnMs.map(([, ms]) => ms).sort((a, b) => a - b), 0.99))
    }.`,
    `- SSE (3 events, leave): ${table(well.sse)}; p99 ${
      ms(quantile([...well.sseMs].sort((a, b) => a - b), 0.99))
    }.`,
    `- Admission after each burst: ${
      admissions.map((a) => `${ms(a.ms)} (${table(a.attempts)})`).join("; ") ||
      "–"
    }.`,
    `- /healthz: ${health.length} samples, max ${ms(healthMaxMs)}, failures ${
      table(healthFailures)
    }, most connections ${maxConnections}, fields ${
      [...healthFields].join(", ")
    }.`,
    "",
    "## Hostile clients: what they saw (all cycles)",
    "",
    "| Phase | Outcomes (handshake status, close code, reset, stall…) |",
    "| --- | --- |",
    ...HOSTILE_PHASES.map(({ name }) =>
      `| ${name} | ${table(phaseCounts[name])} |`
    ),
    ...HOSTILE_PHASES.flatMap((hostile) =>
      hostile.report
        ? [
          "",
          ...hostile.report(phases.filter((p) => p.phase === hostile.name)),
        ]
        : []
    ),
    "",
    "## Server's own counters at the end (/metrics)",
    "",
    `- Closes by code: ${table(closes)}.`,
    `- Refusals by reason: ${table(refusals)}.`,
    `- Limit breaches: ${table(breaches)}.`,
  ];
  return { markdown: lines.join("\n"), figures };
}
