/**
 * A slow reader is a client that does not read, not one the server could
 * not write to: echoes queued while the event loop was held (Deno writes
 * nothing then, and reads a pipelining client's waiting messages all in
 * the turn after) do not close a client that reads (stranger11 F2: such
 * clients were closed 1008 "slow reader" after a control-frame flood).
 * Against a fake socket whose `bufferedAmount` the test sets, and a fake
 * record of when the loop was held: no network, no timing.
 */
import assert from "node:assert/strict";
import { fakeConnection } from "../_fake_socket.ts";
import { startTestServer } from "../_server.ts";
import { until } from "../_client.ts";
import { withDeadline } from "../../bench/wire.ts";
import { OverloadWatch } from "../../lib/start/overload_watch.ts";
import {
  LOOP_HELD_GRACE_MS,
  LOOP_HELD_MS,
  loopHeld,
  type LoopTurns,
} from "../../lib/connection/loop_turns.ts";
import { HELD_RECHECKS } from "../../lib/connection/unread_echoes.ts";

const MiB = 1024 * 1024;
/** A loaded machine runs timers late: generous, never a bound on the watch. */
const WAIT = { timeoutMs: 20_000 };
const MESSAGE_BYTES = 64 * 1024;
const LIMITS = {
  MAX_BUFFERED_BYTES: String(MiB),
  RATE_LIMIT_MESSAGES_PER_SECOND: "0",
  RATE_LIMIT_BYTES_PER_SECOND: "0",
};

/** The watch's next sample is far off: the loop turns promptly. */
function prompt(): LoopTurns {
  return { sampleDueAt: performance.now() + 3_600_000, heldSeenAt: -Infinity };
}

/** The watch's sample is a second overdue: the turn right after a hold. */
function justHeld(): LoopTurns {
  return { sampleDueAt: performance.now() - 1000, heldSeenAt: -Infinity };
}

/**
 * Echoes `count` messages of 64 KiB that Deno has not written:
 * `bufferedAmount` grows by each one.
 */
function pileUp(
  c: ReturnType<typeof fakeConnection>,
  count: number,
): void {
  for (let i = 0; i < count && c.socket.closedWith === undefined; i++) {
    c.socket.receive(new ArrayBuffer(MESSAGE_BYTES));
    c.socket.bufferedAmount += MESSAGE_BYTES;
  }
}

Deno.test("a client whose echoes piled up while the event loop was held is not a slow reader, but must then read them", async (t) => {
  const turns = justHeld();
  using c = fakeConnection(LIMITS, { turns });

  await t.step(
    "2 MiB of echoes queued in the turn after a hold: not closed, every message echoed",
    () => {
      pileUp(c, 32);
      assert.equal(c.socket.closedWith, undefined);
      assert.equal(c.socket.sent.length, 32);
      assert.equal(c.metrics.breaches.size, 0);
    },
  );

  await t.step(
    "the loop turns promptly again and the backlog shrinks at each check: the client reads, not closed",
    () => {
      Object.assign(turns, prompt());
      for (let i = 0; i < 8; i++) {
        // The client read 128 KiB since the last check; one more echo queued.
        c.socket.bufferedAmount -= 128 * 1024;
        pileUp(c, 1);
      }
      assert.ok(c.socket.bufferedAmount > MiB, "still over MAX_BUFFERED_BYTES");
      assert.equal(c.socket.closedWith, undefined);
      assert.equal(c.socket.sent.length, 40);
    },
  );

  await t.step(
    "a backlog still over the limit that does not shrink with the loop prompt: closed 1008 slow reader",
    async () => {
      pileUp(c, 2);
      const { code, reason } = await c.closed();
      assert.equal(code, 1008);
      assert.match(reason, /^slow reader/);
      assert.equal(c.metrics.breaches.get("slow_reader"), 1);
    },
  );
});

Deno.test("a client that never reads is closed 1008 at the first check over MAX_BUFFERED_BYTES while the loop is prompt, as without the record", async (t) => {
  for (
    const [name, turns] of [["prompt", prompt()], [
      "no record",
      undefined,
    ]] as const
  ) {
    await t.step(name, async () => {
      using c = fakeConnection(LIMITS, turns ? { turns } : {});
      pileUp(c, 32);
      assert.equal((await c.closed()).code, 1008);
      // 1 MiB is 16 echoes of 64 KiB (each with its frame cost): the one
      // that would pass it is not sent.
      assert.ok(c.socket.sent.length < MiB / MESSAGE_BYTES);
    });
  }
});

Deno.test("a client that never reads and whose backlog passed the limit during a hold is closed at the first check once the grace after the hold is over", async () => {
  const turns = justHeld();
  using c = fakeConnection(LIMITS, { turns });
  pileUp(c, 32);
  assert.equal(c.socket.closedWith, undefined);
  // The watch saw the hold 2 s ago and turns promptly since.
  Object.assign(turns, prompt(), { heldSeenAt: performance.now() - 2000 });
  pileUp(c, 1);
  assert.equal((await c.closed()).code, 1008);
  assert.equal(
    c.socket.sent.length,
    32,
    "the echo that would grow it is not sent",
  );
});

Deno.test("a client that never reads, whose backlog passed the limit during a hold and that sends nothing more, is closed 1008 once the grace after the hold is over", async (t) => {
  const turns = justHeld();
  using c = fakeConnection(LIMITS, { turns });
  pileUp(c, 32);
  assert.equal(c.socket.closedWith, undefined, "not judged during the hold");
  // The loop turns promptly from now on; the client sends nothing more.
  Object.assign(turns, prompt(), { heldSeenAt: performance.now() });
  await t.step(
    "the kernel takes part of the backlog at the first re-check, then it stops shrinking: closed 1008 slow reader",
    async () => {
      c.socket.bufferedAmount -= 256 * 1024;
      // Two re-checks a grace apart; a loaded machine runs timers late.
      const { code, reason } = await withDeadline(
        c.closed(),
        2 * LOOP_HELD_GRACE_MS + 10_000,
        "the slow-reader close",
      );
      assert.equal(code, 1008);
      assert.match(reason, /^slow reader/);
      assert.equal(c.socket.sent.length, 32, "no echo sent meanwhile");
    },
  );
});

Deno.test("a client that never reads is closed 1008 though the loop counts as held at every re-check (a busy machine), once HELD_RECHECKS re-checks found its backlog not drained", async () => {
  // The watch's sample stays overdue: every re-check sees the loop held.
  const turns = justHeld();
  using c = fakeConnection(LIMITS, { turns });
  pileUp(c, 32);
  assert.equal(c.socket.closedWith, undefined, "not judged during the hold");
  // HELD_RECHECKS re-checks a grace apart; a loaded machine runs timers late.
  await until(
    () => c.socket.closedWith !== undefined,
    "the slow-reader close",
    {
      timeoutMs: (HELD_RECHECKS + 1) * LOOP_HELD_GRACE_MS + 10_000,
    },
  );
  const { code, reason } = await c.closed();
  assert.equal(code, 1008);
  assert.match(reason, /^slow reader/);
  assert.ok(
    loopHeld(turns, performance.now()),
    "the loop still counts as held",
  );
});

Deno.test("a client that reads its backlog down after a hold is not closed by the re-check", async () => {
  const turns = justHeld();
  using c = fakeConnection(LIMITS, { turns });
  pileUp(c, 32);
  Object.assign(turns, prompt(), { heldSeenAt: performance.now() });
  // It reads all but 64 KiB before the re-check, which reads the backlog.
  let reads = 0;
  Object.defineProperty(c.socket, "bufferedAmount", {
    get: () => (reads++, MESSAGE_BYTES),
  });
  await until(() => reads > 0, "the re-check", WAIT);
  assert.equal(c.socket.closedWith, undefined);
  assert.equal(c.metrics.breaches.size, 0);
});

Deno.test("the overload watch tells the rule when the event loop is held: at once while its sample is overdue, and for LOOP_HELD_GRACE_MS after the late sample", async (t) => {
  await using server = startTestServer({}, { overloadWatch: false });
  const { turns } = server.services;
  assert.equal(loopHeld(turns, performance.now()), false, "not watching");
  /** `performance.now()` of each sample; the second holds the loop. */
  const samples: number[] = [];
  let heldNow: boolean | undefined;
  const watch = new OverloadWatch(server.services, {
    readRss: () => {
      samples.push(performance.now());
      if (samples.length === 2) {
        // Holds the loop past the next sample's time, as a flood does.
        const until = turns.sampleDueAt + 2 * LOOP_HELD_MS;
        while (performance.now() < until) { /* held */ }
        heldNow = loopHeld(turns, performance.now());
      }
      return 100 * MiB;
    },
    readCpuMs: () => 0,
    readFairShare: () => 1,
  });
  try {
    await t.step(
      "while the loop is held, before the watch's timer runs",
      async () => {
        await until(() => samples.length >= 2, "the held sample", WAIT);
        assert.equal(heldNow, true);
      },
    );
    await t.step("after the late sample, within the grace", async () => {
      await until(() => samples.length >= 3, "the late sample", WAIT);
      // Its tick saw the hold, just before it read RSS.
      const [held, late] = [samples[1]!, samples[2]!];
      assert.ok(
        turns.heldSeenAt > held && turns.heldSeenAt <= late,
        `held at ${turns.heldSeenAt}, samples at ${held} and ${late}`,
      );
      assert.equal(
        loopHeld(
          { ...turns, sampleDueAt: Infinity },
          late + LOOP_HELD_GRACE_MS / 2,
        ),
        true,
        "with the watch's next sample on time",
      );
    });
  } finally {
    watch.dispose();
  }
  assert.equal(turns.sampleDueAt, Infinity, "not watching once disposed");
});
