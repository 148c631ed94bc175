/**
 * The page's files when they cannot be opened: a missing file is a 404,
 * but a file that is there while the process has no descriptor left to
 * open it is a 503 with Retry-After, never a 404 a cache may keep for the
 * front page (issue #20: `HEAD /` answered 404 62 of 65 times under
 * `deno task serve` at descriptor exhaustion).
 *
 * @module
 */
import assert from "node:assert/strict";
import { startTaskArgs } from "../_server.ts";
import { until } from "../_client.ts";
import { connectIdle, spawnLimited } from "../_limited.ts";
import { readResponse, withDeadline, writeAll } from "../../bench/wire.ts";

const LIMIT = 64;
const FAILED = /listener accept failed port=\d+ error="Too many open files/;
const BACK = /listener accepting port=\d+/;

/**
 * Sends one request on a kept-alive connection and reads its answer, a
 * chunked body (a file served as a stream) to its end, so the next answer
 * starts clean.
 */
async function ask(conn: Deno.Conn, request: string) {
  await writeAll(conn, new TextEncoder().encode(request));
  const answer = await readResponse(conn, {
    head: request.startsWith("HEAD "),
    timeoutMs: 10_000,
  });
  if (
    answer.headers.get("transfer-encoding") === "chunked" &&
    !request.startsWith("HEAD ")
  ) {
    let body = answer.body;
    const chunk = new Uint8Array(64 * 1024);
    const read = async () => {
      while (!body.endsWith("\r\n0\r\n\r\n") && body !== "0\r\n\r\n") {
        const n = await conn.read(chunk);
        if (n === null) throw new Error("Closed in a chunked body");
        body += new TextDecoder().decode(chunk.subarray(0, n));
      }
    };
    await withDeadline(read(), 10_000, "the chunked body's end");
  }
  return answer;
}

Deno.test({
  name:
    "HEAD / and GET /app.js answer 503 with Retry-After, not 404, while no descriptor is left to open the file",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await using child = await spawnLimited(LIMIT, await startTaskArgs());
    // Accepted before the descriptors run out: it still reaches the app.
    const kept = await connectIdle(child.port);
    const idle: Deno.Conn[] = [];
    try {
      const before = await ask(kept, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.equal(before.status, 200);
      // Idle connections until accepting fails for want of descriptors, and
      // the listener is back: it holds the one descriptor its failure freed,
      // and with no new connection nothing frees another.
      const deadline = performance.now() + 30_000;
      while (!FAILED.test(child.stdout()) && idle.length < LIMIT * 4) {
        assert.ok(performance.now() < deadline, child.stdout());
        try {
          idle.push(await connectIdle(child.port));
        } catch {
          break; // Refused or reset while the listener is down.
        }
      }
      await until(
        () => FAILED.test(child.stdout()) && BACK.test(child.stdout()),
        "the accept failure and the listener back",
        { timeoutMs: 30_000 },
      );
      // A descriptor may still free now and then (the listener's, while it
      // is down): each request is asked again, one more idle connection
      // taking a free one, until it is not served.
      const refused = async (request: string) => {
        const until = performance.now() + 30_000;
        for (;;) {
          const answer = await ask(kept, request);
          if (answer.status !== 200 || performance.now() > until) return answer;
          await connectIdle(child.port).then((c) => idle.push(c), () => {});
        }
      };
      for (const path of ["/", "/app.js"]) {
        for (const method of ["HEAD", "GET"]) {
          const answer = await refused(
            `${method} ${path} HTTP/1.1\r\nHost: x\r\n\r\n`,
          );
          assert.equal(answer.status, 503, `${method} ${path}: ${answer.head}`);
          assert.equal(answer.headers.get("retry-after"), "10");
          assert.equal(answer.headers.get("cache-control"), "no-store");
          if (method === "GET") {
            assert.match(answer.body, /no file descriptor free.*Retry/);
          }
        }
      }
      // A path that is no file is still a 404.
      const missing = await ask(
        kept,
        "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n",
      );
      assert.equal(missing.status, 404);
      for (const conn of idle.splice(0)) conn.close();
      // Once descriptors are free the page is served again.
      let after = await ask(kept, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
      const again = performance.now() + 30_000;
      while (after.status !== 200 && performance.now() < again) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        after = await ask(kept, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
      }
      assert.equal(after.status, 200);
      // The refusal log's line, through the pipe.
      await until(
        () => /http refused .*reason=files_unavailable/.test(child.stdout()),
        "the refusal's log line",
        { timeoutMs: 10_000 },
      );
    } catch (error) {
      throw new Error(
        `${(error as Error).message}\n--- child stdout ---\n${child.stdout()}`,
        { cause: error },
      );
    } finally {
      kept.close();
      for (const conn of idle) conn.close();
    }
  },
});
