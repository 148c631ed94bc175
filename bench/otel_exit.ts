/**
 * Does `Deno.exit` end the process with OpenTelemetry on? A child with an
 * observable gauge (as `lib/telemetry.ts` registers), metrics exported every
 * 200 ms to a port where nothing listens, calls `Deno.exit(0)` 1 s after its
 * start, after a busy turn of 0 or 500 ms (a stop under load is such a turn;
 * an export falls due in it), with or without `armReaper` (1 s). A child
 * still up 10 s later is called hung and killed. `lib/start/exit_reaper.ts`
 * says why it hangs.
 *
 * Usage: `deno run -A bench/otel_exit.ts [runs]` (default 2 runs a case).
 *
 * @module
 */
import { metrics } from "@opentelemetry/api";
import { armReaper } from "../lib/start/exit_reaper.ts";

const CHILD = "OTEL_EXIT_CHILD";
const HUNG_AFTER_MS = 10_000;

if (Deno.env.get(CHILD)) {
  const [busyMs, reap] = Deno.env.get(CHILD)!.split(",");
  const meter = metrics.getMeter("otel_exit");
  const gauge = meter.createObservableGauge("otel_exit.gauge");
  meter.addBatchObservableCallback((result) => result.observe(gauge, 1), [
    gauge,
  ]);
  setTimeout(() => {
    if (reap === "reap") armReaper(1000);
    const until = performance.now() + Number(busyMs);
    while (performance.now() < until) {
      // Busy, as a stop under load.
    }
    Deno.exit(0);
  }, 1000);
} else {
  const runs = Number(Deno.args[0] ?? 2);
  for (const [busyMs, reap] of [[0, ""], [500, ""], [500, "reap"]] as const) {
    for (let run = 1; run <= runs; run++) {
      const started = performance.now();
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", import.meta.filename!],
        env: {
          [CHILD]: `${busyMs},${reap}`,
          OTEL_DENO: "true",
          OTEL_METRIC_EXPORT_INTERVAL: "200",
          OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9",
        },
        stdout: "null",
        stderr: "null",
      }).spawn();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const hung = new Promise<"hung">((resolve) =>
        timer = setTimeout(() => resolve("hung"), HUNG_AFTER_MS)
      );
      const ended = await Promise.race([child.status, hung]);
      clearTimeout(timer);
      const ms = Math.round(performance.now() - started);
      if (ended === "hung") {
        child.kill("SIGKILL");
        await child.status;
      }
      const how = ended === "hung"
        ? `hung (killed after ${ms} ms)`
        : `ended in ${ms} ms, code ${ended.code} signal ${ended.signal}`;
      console.log(
        `busy ${busyMs} ms${reap ? ", reaper" : ""}, run ${run}: ${how}`,
      );
    }
  }
}
