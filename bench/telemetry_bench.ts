/**
 * What OpenTelemetry costs per message and per close: `deno bench -A
 * bench/telemetry_bench.ts`, and again with `OTEL_DENO=true` to measure
 * Deno's exporter behind the API. Per message the service only increments
 * the Metrics fields, with or without telemetry started.
 */
import { Metrics } from "../lib/metrics.ts";
import { startTelemetry } from "../lib/telemetry.ts";

const plain = new Metrics();
const observed = new Metrics();
startTelemetry({ metrics: observed });

Deno.bench("per message, no telemetry", {
  group: "message",
  baseline: true,
}, () => {
  plain.messagesIn++;
  plain.bytesIn += 32;
  plain.messagesOut++;
  plain.bytesOut += 32;
});

Deno.bench("per message, telemetry started", { group: "message" }, () => {
  observed.messagesIn++;
  observed.bytesIn += 32;
  observed.messagesOut++;
  observed.bytesOut += 32;
});

Deno.bench("per close, no telemetry", {
  group: "close",
  baseline: true,
}, () => {
  plain.closed(1000, 1234);
});

Deno.bench("per close, duration recorded", { group: "close" }, () => {
  observed.closed(1000, 1234);
});
