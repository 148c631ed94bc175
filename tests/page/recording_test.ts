/**
 * The page's recordings (static/recording.js) and the composer's and
 * options' checks (static/format.js), tested without a browser.
 */
import assert from "node:assert/strict";
import {
  BAD_PORTS,
  checkDelay,
  checkJson,
  formatBytes,
  formatGap,
  formatNumber,
  MAX_DELAY_MS,
  NUMBER_FIELDS,
  parseSaved,
  SAVED_MAX,
} from "../../static/format.js";
import {
  encodeBase64,
  KEEP_BYTES,
  MAX_RECORDED,
  parseRecording,
  Recording,
} from "../../static/recording.js";
import {
  MAX_DELAY_MS as SERVER_MAX_DELAY_MS,
  MAX_OPEN_DELAY_MS,
  MAX_RETRY_AFTER_SECONDS,
  MAX_STREAM_COUNT,
  MAX_STREAM_INTERVAL_MS,
} from "../../lib/connection/option_schema.ts";

Deno.test("a recording exports to JSON that parses back to the same entries", () => {
  const recording = new Recording();
  recording.add({ event: "connecting", url: "ws://a/echo", protocols: [] });
  recording.add({ event: "open", protocol: "" });
  recording.add({ direction: "sent", data: "line one\nline two" });
  recording.add({
    direction: "received",
    data: new Uint8Array([0xde, 0xad, 0xbe, 0xef]).buffer,
  });
  recording.add({ event: "close", code: 4000, reason: "bye", wasClean: true });
  const exported = JSON.parse(JSON.stringify(recording));
  assert.equal(exported.format, "ws-echo-recording");
  assert.deepEqual(exported.entries[3], {
    time: exported.entries[3].time,
    direction: "received",
    type: "binary",
    size: 4,
    data: "3q2+7w==",
  });
  const parsed = parseRecording(JSON.stringify(exported));
  assert.ok("entries" in parsed);
  assert.deepEqual(parsed.entries, recording.entries);
});

Deno.test("a recording keeps the newest entries and lets go of old data first", async (t) => {
  await t.step(`at most ${MAX_RECORDED} entries`, () => {
    const recording = new Recording();
    for (let i = 0; i < MAX_RECORDED + 5; i++) {
      recording.add({ direction: "sent", data: `m${i}` });
    }
    assert.equal(recording.entries.length, MAX_RECORDED);
    assert.equal(recording.entries[0]!.data, "m5");
  });
  await t.step(
    "data past KEEP_BYTES is dropped oldest first, sizes kept",
    () => {
      const recording = new Recording();
      const big = new Uint8Array(KEEP_BYTES / 2 + 1);
      for (let i = 0; i < 3; i++) {
        recording.add({
          direction: "sent",
          data: big,
        });
      }
      const [first, second, third] = recording.entries;
      assert.equal(first!.data, undefined);
      assert.equal(first!.dropped, true);
      assert.equal(first!.size, big.length);
      assert.equal(second!.data, undefined);
      assert.equal(third!.data, big);
      const exported = JSON.parse(JSON.stringify(recording)).entries[0];
      assert.equal(exported.dropped, true);
      assert.equal("data" in exported, false);
    },
  );
});

/** What parseRecording() says is wrong with `text`, if anything. */
function errorOf(text: string): string | undefined {
  const parsed = parseRecording(text);
  return "error" in parsed ? parsed.error : undefined;
}

Deno.test("parseRecording() names the first entry that is wrong", () => {
  const file = (entries: unknown[]) =>
    JSON.stringify({ format: "ws-echo-recording", version: 1, entries });
  const time = "2026-01-02T03:04:05.006Z";
  assert.match(errorOf("{") ?? "", /^not JSON/);
  assert.match(errorOf('{"entries": []}') ?? "", /version 1/);
  assert.equal(
    errorOf(file([{ time, direction: "sent", type: "text" }])),
    "entry 1: no data and no size",
  );
  assert.equal(
    errorOf(file([
      { time, event: "open" },
      { time, direction: "sent", type: "binary", data: "not base64!" },
    ])),
    "entry 2: data is not base64",
  );
  assert.equal(
    errorOf(file([{ time: "soon", event: "open" }])),
    "entry 1: time is not an ISO date",
  );
});

Deno.test("encodeBase64() handles more than one chunk", () => {
  const bytes = new Uint8Array(100_000).map((_, i) => i % 256);
  assert.equal(encodeBase64(bytes), btoa(String.fromCharCode(...bytes)));
});

Deno.test("checkJson() pretty-prints JSON or returns the parser's message", () => {
  assert.deepEqual(checkJson('{"a":[1]}'), {
    text: '{\n  "a": [\n    1\n  ]\n}',
  });
  assert.ok("error" in checkJson('{"a": 1,}'));
});

Deno.test("parseSaved() keeps well-formed saved messages only", () => {
  assert.deepEqual(parseSaved(null), []);
  assert.deepEqual(parseSaved("not json"), []);
  assert.deepEqual(
    parseSaved(JSON.stringify([
      { name: "a", text: "x", mode: "text" },
      { name: "", text: "x", mode: "text" },
      { name: "b", text: 1, mode: "text" },
      { name: "c", text: "{}", mode: "json", extra: true },
    ])),
    [{ name: "a", text: "x", mode: "text" }, {
      name: "c",
      text: "{}",
      mode: "json",
    }],
  );
  const many = Array.from(
    { length: SAVED_MAX + 1 },
    (_, i) => ({ name: `n${i}`, text: "", mode: "text" }),
  );
  assert.equal(parseSaved(JSON.stringify(many)).length, SAVED_MAX);
});

Deno.test("the page's number fields take the ranges the server takes", () => {
  const ranges = Object.fromEntries(
    NUMBER_FIELDS.map((field) => [field.param, [field.min, field.max]]),
  );
  assert.deepEqual(ranges.delay, [0, SERVER_MAX_DELAY_MS]);
  assert.deepEqual(ranges.open_delay, [0, MAX_OPEN_DELAY_MS]);
  assert.deepEqual(ranges.status, [400, 599]);
  assert.deepEqual(ranges.retry_after, [0, MAX_RETRY_AFTER_SECONDS]);
  assert.deepEqual(ranges.count, [1, MAX_STREAM_COUNT]);
  assert.deepEqual(ranges.interval, [0, MAX_STREAM_INTERVAL_MS]);
});

Deno.test("checkDelay() takes what the server takes", () => {
  assert.equal(MAX_DELAY_MS, SERVER_MAX_DELAY_MS);
  assert.deepEqual(checkDelay(""), { delay: 0 });
  assert.deepEqual(checkDelay(" 250 "), { delay: 250 });
  assert.deepEqual(checkDelay(String(MAX_DELAY_MS)), { delay: MAX_DELAY_MS });
  assert.deepEqual(checkDelay("99999"), { error: "invalid.integer" });
  assert.deepEqual(checkDelay("abc"), { error: "invalid.integer" });
  assert.deepEqual(checkDelay("1.5"), { error: "invalid.integer" });
});

Deno.test("sizes never show more than four digits, in each language's digits", () => {
  assert.equal(formatBytes(1023), "1,023 B");
  assert.equal(formatBytes(1048575), "1 MiB");
  assert.equal(formatBytes(2097152, "zh-Hant", { B: "位元組" }), "2 MiB");
  assert.equal(formatBytes(100663296), "96 MiB");
  assert.equal(formatBytes(5 * 1073741824), "5 GiB");
  for (let bytes = 1; bytes < 2 ** 40; bytes = Math.ceil(bytes * 1.37)) {
    const digits = formatBytes(bytes).replace(/\D/g, "");
    assert.ok(digits.length <= 4, `${bytes} -> ${formatBytes(bytes)}`);
  }
  assert.equal(formatNumber(2401, "en"), "2,401");
  assert.equal(formatGap(250, "zh-Hant"), "+250 毫秒");
});

Deno.test("a gap says at most four digits: a recording a year old is +339 d", () => {
  assert.equal(formatGap(1500), "+1.5 s");
  assert.equal(formatGap(5.5 * 3600000), "+5.5 h");
  assert.equal(formatGap(487643 * 60000), "+339 d");
  assert.equal(formatGap(487643 * 60000, "zh-Hans"), "+339 天");
  // Up to 9,999 days (27 years).
  for (let ms = 1; ms < 9999.4 * 86400000; ms = Math.ceil(ms * 1.37)) {
    const digits = formatGap(ms).replace(/\D/g, "");
    assert.ok(digits.length <= 4, `${ms} -> ${formatGap(ms)}`);
  }
});

Deno.test("an English gap fits the phone's 7-column cell, 1,000 days and more too", () => {
  // style.css gives the phone's time-since cell 7ch in English ("+59.9 s");
  // "+1,234 d" of an imported years-old recording ran one column past it.
  assert.equal(formatGap(1234 * 86400000), "+1234 d");
  assert.equal(formatGap(1234 * 86400000, "zh-Hant"), "+1234 天");
  assert.equal(formatGap(999 * 86400000), "+999 d");
  for (let ms = 1; ms < 9999.4 * 86400000; ms = Math.ceil(ms * 1.01)) {
    assert.ok(formatGap(ms).length <= 7, `${ms} -> ${formatGap(ms)}`);
  }
});

Deno.test("port 9 and the other ports browsers refuse are known", () => {
  for (const port of [9, 22, 25, 6000, 10080]) assert.ok(BAD_PORTS.has(port));
  for (const port of [80, 443, 8080, 9998]) assert.ok(!BAD_PORTS.has(port));
});
