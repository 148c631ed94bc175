import assert from "node:assert/strict";
import { batchedLog } from "../lib/log.ts";

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
      await written.promise,
      "http method=GET path=/ status=200\n",
    );
  } finally {
    clearInterval(keepAlive);
  }
});
