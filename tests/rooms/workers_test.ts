import assert from "node:assert/strict";
import {
  killGroup,
  readServiceLog,
  spawnServeTask,
  waitForExit,
} from "../_server.ts";
import { connect, type Inbox, until } from "../_client.ts";
import { ensureBundles } from "../../deploy/bundle.ts";
import { freePort } from "../../bench/wire.ts";

Deno.test("under deno task serve, room members on every worker receive each other's messages, a burst whole and in order", async () => {
  const port = freePort();
  const workers = 2;
  // The task rebuilds a stale bundle and says so on stderr: build it first.
  await ensureBundles();
  const child = spawnServeTask(port, { workers });
  const stderr = new Response(child.stderr).text();
  const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { lines } = readServiceLog({ stdout });
  const members: Array<{ socket: WebSocket; inbox: Inbox }> = [];
  try {
    await until(
      () => lines.filter((line) => line.startsWith("start ")).length === 2,
      "a start line from each worker",
      { timeoutMs: 20_000 },
    );
    for (const line of lines.filter((line) => line.startsWith("start "))) {
      assert.match(line, / rooms_bridge=broadcast/);
    }
    // The kernel spreads connections over the workers: 16 all on one worker
    // has odds of 1 in 32,768, and the close lines below show where they went.
    const count = 16;
    for (let i = 0; i < count; i++) {
      members.push(await connect(`ws://127.0.0.1:${port}/room/workers`));
    }
    members.forEach(({ socket }, i) => socket.send(`from ${i}`));
    for (const [i, { inbox }] of members.entries()) {
      const got = (await inbox.take(count - 1, { timeoutMs: 20_000 }))
        .map(String).sort();
      const expected = members.map((_, j) => `from ${j}`)
        .filter((text) => text !== `from ${i}`).sort();
      assert.deepEqual(got, expected, `member ${i}`);
      assert.equal(inbox.pending, 0, `member ${i} got nothing twice`);
    }
    // A burst from one member reaches every other, whole and in order
    // (Deno's channel drops what a lagging worker cannot queue; the bridge
    // posts a turn's messages at once: bench/broadcast_cost.ts).
    const burst = 1000;
    for (let n = 0; n < burst; n++) members[0]!.socket.send(`burst ${n}`);
    for (const { inbox } of members.slice(1)) {
      const got = await inbox.take(burst, { timeoutMs: 20_000 });
      assert.deepEqual(
        got,
        Array.from({ length: burst }, (_, n) => `burst ${n}`),
      );
    }
    const health = await (await fetch(`http://127.0.0.1:${port}/healthz`))
      .json();
    assert.equal(health.rooms.bridge.kind, "broadcast");
    assert.equal(health.rooms.bridge.lost, 0);
    child.kill("SIGTERM");
    for (const { inbox } of members) {
      assert.equal((await inbox.closed({ timeoutMs: 20_000 })).code, 1001);
    }
    await until(
      () =>
        lines.filter((line) => line.startsWith("ws close ")).length === count,
      "a close line for each member",
      { timeoutMs: 20_000 },
    );
    assert.equal((await waitForExit(child)).code, 0);
    const instances = new Set(
      lines.filter((line) => line.startsWith("ws close "))
        .map((line) => /id=(\w+)-/.exec(line)?.[1]),
    );
    assert.equal(instances.size, workers, "members on every worker");
  } finally {
    killGroup(child);
    for (const { socket } of members) socket.close();
    await Promise.all(
      members.map(({ inbox }) => inbox.closed().catch(() => {})),
    );
    await stdout.cancel();
    await child.status;
  }
  const errors = (await stderr).split("\n").filter((line) =>
    line && !line.startsWith("Task ")
  );
  assert.deepEqual(errors, []);
});
