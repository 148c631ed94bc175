import assert from "node:assert/strict";
import {
  batchedLog,
  formatJson,
  formatText,
  MAX_CLIENT_TEXT,
} from "../lib/log.ts";
import { withDeadline } from "../bench/wire.ts";

Deno.test("batchedLog() writes waiting lines in one write, in order", () => {
  const writes: string[] = [];
  const output = batchedLog(
    "text",
    (bytes) => writes.push(new TextDecoder().decode(bytes)),
  );
  output.log({ event: "ws_close", id: "a" });
  output.log({ event: "ws_close", id: "b" });
  assert.deepEqual(writes, [], "nothing is written per line");
  output.flush();
  assert.deepEqual(writes, ["ws close id=a\nws close id=b\n"]);
  output.flush();
  assert.equal(writes.length, 1, "an empty flush writes nothing");
});

Deno.test("batchedLog() writes a batch by itself after LOG_FLUSH_MS", async () => {
  const written = Promise.withResolvers<string>();
  const output = batchedLog(
    "text",
    (bytes) => written.resolve(new TextDecoder().decode(bytes)),
  );
  output.log({ event: "http", method: "GET", path: "/", status: 200 });
  // The flush timer is unref'd (it never keeps a server alive by itself), so
  // the test holds the event loop open while it waits.
  const keepAlive = setInterval(() => {}, 1000);
  try {
    assert.equal(
      await withDeadline(written.promise, 5000, "the timer's batch"),
      "http method=GET path=/ status=200\n",
    );
  } finally {
    clearInterval(keepAlive);
  }
});

/** Any control character or line separator. */
const CONTROL = /[\p{Cc}\u2028\u2029]/u;

Deno.test("a client's text cannot forge or colour a log line", async (t) => {
  const path = "/x\u001b[31m\nws close id=forged\u0085\u2028";
  await t.step("text: quoted, every control escaped", () => {
    const line = formatText({ event: "http", path, status: 404 });
    assert.equal(line.split("\n").length, 1);
    assert.doesNotMatch(line, CONTROL);
    assert.match(
      line,
      /path="\/x\\u001b\[31m\\nws close id=forged\\u0085\\u2028"/,
    );
  });
  await t.step("JSON: the same, and it still parses back", () => {
    const line = formatJson({ event: "http", path }, new Date(0));
    assert.doesNotMatch(line, CONTROL);
    assert.equal(JSON.parse(line).path, path);
  });
});

Deno.test("a client's method, path and origin are logged clipped to MAX_CLIENT_TEXT, in text and JSON", () => {
  const long = "/" + "x".repeat(60_000);
  for (const format of ["text", "json"] as const) {
    const batches: string[] = [];
    const output = batchedLog(
      format,
      (bytes) => batches.push(new TextDecoder().decode(bytes)),
    );
    // A 60 KB method name reached the log whole (stranger23: 1,000
    // requests, 60 MB of log in 4 s).
    const method = "X".repeat(60_001);
    output.log({
      event: "http",
      method,
      path: long,
      origin: long,
      status: 501,
    });
    output.flush();
    const [line] = batches;
    assert.ok(line !== undefined);
    assert.ok(line.length < 4 * MAX_CLIENT_TEXT, `${format}: ${line.length}`);
    assert.match(line, /…\(\+59745\)/);
    assert.match(line, /501/);
  }
});
