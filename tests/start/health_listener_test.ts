import assert from "node:assert/strict";
import type { ListenerState } from "../../lib/services.ts";
import { until, withDeadline } from "../_client.ts";
import { startTaskArgs, startTestServer } from "../_server.ts";
import { connectIdle, spawnLimited } from "../_limited.ts";
import { readResponse, writeAll } from "../../bench/wire.ts";

// superviseServe() updates its `state` object in place when accept() fails
// with EMFILE; startServer() hands that object to `services.listener`. The
// /healthz route must report it, not the placeholder createApp() made.
Deno.test("/healthz reports the live listener state (not_accepting, acceptFailures)", async () => {
  await using server = startTestServer();
  const live = server.services.listener as ListenerState;
  // What listener.ts does when descriptors run out (a keep-alive connection
  // or a load balancer's pooled connection can still reach /healthz then).
  live.accepting = false;
  live.acceptFailures = 3;
  live.lastAcceptError = "Too many open files (os error 24)";
  const response = await withDeadline(
    fetch(`${server.http}/healthz`),
    5000,
    "/healthz",
  );
  const body = await response.json();
  assert.equal(body.status, "not_accepting");
  assert.equal(body.listener.accepting, false);
  assert.equal(body.listener.acceptFailures, 3);
});

Deno.test("/healthz says not_accepting, why, and 503 while the listener keeps failing, even in the instant it is up", async (t) => {
  await using server = startTestServer();
  const live = server.services.listener as ListenerState;
  const health = async () => {
    const response = await withDeadline(
      fetch(`${server.http}/healthz`),
      5000,
      "/healthz",
    );
    return { status: response.status, body: await response.json() };
  };
  await t.step("failed twice in 3 s, up now: 503 not_accepting", async () => {
    live.accepting = true;
    live.acceptFailures = 2;
    live.lastAcceptError = "Too many open files (os error 24)";
    // Ahead of the clock: recent however slow the machine is.
    live.lastFailureAt = performance.now() + 60_000;
    live.recentFailures = 2;
    const { status, body } = await health();
    assert.equal(status, 503);
    assert.equal(body.status, "not_accepting");
    assert.equal(
      body.reason,
      "accepting or listening failed 2 times in the last 3 s: Too many open files (os error 24)",
    );
    assert.equal(body.listener.recentFailures, 2);
    assert.equal(body.listener.acceptFailures, 2);
  });
  await t.step("failed once: not_accepting, still 200", async () => {
    live.recentFailures = 1;
    const { status, body } = await health();
    assert.equal(status, 200);
    assert.equal(body.status, "not_accepting");
    assert.match(body.reason, /failed 1 time in the last 3 s/);
  });
  await t.step("failed once and down this instant: 503", async () => {
    live.accepting = false;
    const { status, body } = await health();
    assert.equal(status, 503);
    assert.equal(body.status, "not_accepting");
    live.accepting = true;
  });
  await t.step("the port served by the other workers: 200", async () => {
    live.recentFailures = 5;
    live.viaOtherWorkers = true;
    const { status } = await health();
    assert.equal(status, 200);
    delete live.viaOtherWorkers;
  });
  await t.step("3 s after the last failure: ok again", async () => {
    live.lastFailureAt = performance.now() - 3_001;
    const { status, body } = await health();
    assert.equal(status, 200);
    assert.equal(body.status, "ok");
    assert.equal(body.reason, undefined);
    assert.equal(body.listener.recentFailures, 0);
  });
});

Deno.test({
  name:
    "at its descriptor limit, with the listener back between failures, /healthz on a kept-alive connection says not_accepting with 503",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await using child = await spawnLimited(64, await startTaskArgs());
    const kept = await connectIdle(child.port);
    const idle: Deno.Conn[] = [];
    const ask = async () => {
      await writeAll(
        kept,
        new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
      );
      return await readResponse(kept, { timeoutMs: 10_000 });
    };
    try {
      assert.equal((await ask()).status, 200);
      const failures = () =>
        child.stdout().match(/^listener accept failed /gm)?.length ?? 0;
      // Idle connections until accepting has failed, the listener is back,
      // and a further connection fails it again.
      const deadline = performance.now() + 30_000;
      let answer = await ask();
      while (answer.status !== 503) {
        assert.ok(performance.now() < deadline, child.stdout());
        await connectIdle(child.port).then((c) => idle.push(c), () => {});
        answer = await ask();
      }
      const body = JSON.parse(answer.body);
      assert.equal(body.status, "not_accepting");
      assert.match(
        body.reason,
        /failed \d+ times? in the last 3 s: Too many open files/,
      );
      // Log lines are written in batches up to 50 ms old, so the 503 may
      // come before the failure's line does.
      await until(() => failures() >= 1, "a listener accept failed line", {
        timeoutMs: 10_000,
      });
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
