/**
 * A pause of the whole process is no attack (issue #20): a host that
 * stops the service for a while (SIGSTOP here, a VM's steal or a loaded
 * machine elsewhere) makes every timer late at once, but the process used
 * no CPU meanwhile, so the overload watch must not take it for a flood
 * and recycle everyone (before: two `event_loop_stall` recycles at
 * `cpu_percent=0`, and the second refused innocent addresses).
 */
import assert from "node:assert/strict";
import { readServiceLog, startService } from "../_server.ts";
import { connect, withDeadline } from "../_client.ts";

/** How long each pause lasts, in ms: past the stall's hold of 1 s. */
const PAUSE_MS = 1500;
/** How long the client keeps echoing after each pause, in ms: past the busy rule's 2 s. */
const WATCH_MS = 3000;

/** Resolves after `ms`: the length of a pause or of an observation, never a wait for an event. */
function elapse(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("a process paused twice for 1.5 s is no overload incident: a connected echo client stays open and echoes", async () => {
  await using service = await startService({
    PORT: "0",
    BIND_ADDRESS: "127.0.0.1",
  });
  // The log is read as it comes: a full pipe would block the service.
  const log = readServiceLog(service);
  const pid = service.child.pid;
  const { socket, inbox } = await connect(
    `ws://127.0.0.1:${service.port}/echo`,
    { timeoutMs: 30_000 },
  );
  let sent = 0;
  /** Sends one message and waits for its echo; returns the round trip in ms. */
  const echo = async () => {
    const text = `message ${++sent}`;
    const start = performance.now();
    socket.send(text);
    assert.equal(await inbox.next({ timeoutMs: 30_000 }), text);
    return performance.now() - start;
  };
  try {
    await echo();
    for (let pause = 1; pause <= 2; pause++) {
      Deno.kill(pid, "SIGSTOP");
      let resumed = false;
      try {
        // Sent while stopped: answered only after the pause, which proves it.
        const during = echo();
        await elapse(PAUSE_MS);
        Deno.kill(pid, "SIGCONT");
        resumed = true;
        assert.ok(
          (await during) >= PAUSE_MS * 0.8,
          `the echo sent during pause ${pause} waited for it`,
        );
      } finally {
        if (!resumed) Deno.kill(pid, "SIGCONT");
      }
      const until = performance.now() + WATCH_MS;
      while (performance.now() < until) {
        await echo();
        await elapse(100);
      }
    }
    assert.equal(socket.readyState, WebSocket.OPEN);
    const health = await withDeadline(
      fetch(`http://127.0.0.1:${service.port}/healthz`).then((response) =>
        response.json()
      ),
      30_000,
      "/healthz",
    );
    assert.equal(health.overload.incidents, 0, JSON.stringify(health.overload));
    assert.equal(health.listener.recycles, 0);
  } finally {
    socket.close();
    await inbox.closed({ timeoutMs: 30_000 }).catch(() => {});
    await service[Symbol.asyncDispose]();
    await log.ended();
  }
});
