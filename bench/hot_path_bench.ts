/**
 * Micro-benchmarks for the pieces that run on every message, so a regression
 * shows up without a load run: `deno task bench:micro`.
 */
import { Metrics } from "../lib/metrics.ts";
import { TokenBucket } from "../lib/admission/token_bucket.ts";
import { utf8ByteLength } from "../lib/protocol/utf8.ts";
import { turnNow } from "../lib/connection/turn_clock.ts";

// Decoded like a received message: flat strings (a `repeat()` result is a
// rope, which reads slower and would overstate the cost).
const decoder = new TextDecoder();
const encoder = new TextEncoder();
const ascii32 = decoder.decode(encoder.encode("x".repeat(32)));
const cjk32 = decoder.decode(encoder.encode("繁體中文简体中文".repeat(4)));
const bucket = new TokenBucket(1e12, 1e12, 0);
const metrics = new Metrics();
let now = 0;

Deno.bench("TokenBucket.take() per message", { group: "limits" }, () => {
  bucket.take(32, now++);
});

Deno.bench("utf8ByteLength() 32 ASCII chars", { group: "size" }, () => {
  utf8ByteLength(ascii32);
});

Deno.bench("utf8ByteLength() 32 CJK chars", { group: "size" }, () => {
  utf8ByteLength(cjk32);
});

Deno.bench("TextEncoder.encode() 32 ASCII chars (baseline)", {
  group: "size",
  baseline: true,
}, () => {
  encoder.encode(ascii32);
});

Deno.bench("Metrics counters per echoed message", { group: "metrics" }, () => {
  metrics.messagesIn++;
  metrics.bytesIn += 32;
  metrics.messagesOut++;
  metrics.bytesOut += 32;
});

Deno.bench("Date.now() (each message read the clock once)", {
  group: "clock",
  baseline: true,
}, () => {
  now = Date.now();
});

Deno.bench("turnNow() (one reading per turn of the event loop)", {
  group: "clock",
}, () => {
  now = turnNow();
});
