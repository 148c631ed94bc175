/**
 * Closes the clients never answer hold their socket in Deno 2.9 (no close
 * timeout) until the listener is recycled (`lib/start/unanswered_closes.ts`).
 * Under a low descriptor limit (`prlimit`) and the start task's permissions
 * (the limit unknown, MAX_CONNECTIONS left at 10,000): clients from several
 * 127.x addresses send `Goodbye` and never answer the close. They would
 * hold every descriptor, so the watch recycles the listener, which frees
 * them, and a new client is served: without CAP_NET_ADMIN, without `ss`,
 * and as this machine runs it (with no descriptor left `ss` cannot start
 * to abort them either).
 *
 * @module
 */
import assert from "node:assert/strict";
import { CAN_ABORT, WITHOUT_ABORT } from "./_overload.ts";
import type { Socket } from "node:net";
import { startTaskArgs } from "../_server.ts";
import { connect, until } from "../_client.ts";
import { spawnLimited } from "../_limited.ts";
import { clientFrame } from "../../bench/wire.ts";
import { openFrom } from "../../bench/overload_attacks.ts";
import {
  UNANSWERED_TRIP_FLOOR,
  unansweredTrip,
} from "../../lib/start/unanswered_closes.ts";

const LIMIT = 256;
/** Within MAX_CONNECTIONS_PER_IP (32) each: 240 clients, as in the attack. */
const PER_ADDRESS = 30;
const ADDRESSES = Array.from({ length: 8 }, (_, i) => `127.0.24.${i + 1}`);
const RECYCLED =
  /overload incident cause=unanswered_closes action=recycled .*reason="([^"]+)"/;

/**
 * Opens PER_ADDRESS upgrades from `address`, one after another; upgrades
 * that fail (descriptors ran out: the listener is down) are not kept.
 *
 * @returns The upgraded sockets; every socket opened is added to `opened`.
 */
async function openAll(
  port: number,
  address: string,
  opened: Socket[],
): Promise<Socket[]> {
  const upgraded: Socket[] = [];
  for (let i = 0; i < PER_ADDRESS; i++) {
    try {
      const { socket, status } = await openFrom(port, address);
      opened.push(socket);
      if (status === 101) upgraded.push(socket);
    } catch {
      // Refused or timed out: no descriptor was left to accept it.
    }
  }
  return upgraded;
}

Deno.test("closes never answered trip at a tenth of what clients hold, never fewer than the floor", async (t) => {
  await t.step(
    "a page of 50 clients closing at once is never counted: their closes are not given up",
    () => {
      // Closes are counted only once CLOSE_TIMEOUT_SECONDS gave them up.
      assert.equal(unansweredTrip({ unanswered: 0, open: 50 }), undefined);
    },
  );
  await t.step("fewer than the floor never trip, even alone", () => {
    assert.equal(UNANSWERED_TRIP_FLOOR, 16);
    assert.equal(unansweredTrip({ unanswered: 15, open: 0 }), undefined);
    assert.ok(unansweredTrip({ unanswered: 16, open: 0 }));
  });
  await t.step(
    "clients that vanished among many open stay under a tenth",
    () => {
      assert.equal(unansweredTrip({ unanswered: 100, open: 1000 }), undefined);
      assert.ok(unansweredTrip({ unanswered: 112, open: 1000 }));
    },
  );
  await t.step(
    "the attacks seen: 231 under 256 descriptors, 600 without a limit",
    () => {
      assert.equal(
        unansweredTrip({ unanswered: 231, open: 0 }),
        "231 closes never answered hold 100% of what clients hold (0 connections and streams open); only a recycle frees them",
      );
      assert.match(unansweredTrip({ unanswered: 600, open: 20 })!, /hold 97%/);
    },
  );
});

/** How the service may treat sockets it gave up on (`held_sockets.ts`). */
interface KernelCase {
  /** `PATH` for the child, where `ss` is found; none without it. */
  path?: string;
  /** Command prefix (`WITHOUT_ABORT`: no CAP_NET_ADMIN). */
  prefix: string[];
}

/**
 * Starts the service under LIMIT descriptors with the start task's flags,
 * has 240 clients from 8 addresses upgrade (all open before any says
 * `Goodbye`: no close is given up while others still connect), then say
 * `Goodbye` and never answer the close, and waits (60 s) for `done` in the
 * log. Then a new client must be served.
 *
 * The RSS watchdog's thread starts ARM_AFTER_MS after the watch, when no
 * descriptor is left: Deno 2.9.6 panicked there (`tokio_util.rs:66` Too
 * many open files) until the watch held descriptors for it.
 *
 * @returns The service's log.
 */
async function unansweredUnderLimit(
  kernel: KernelCase,
  done: RegExp,
): Promise<string> {
  await using child = await spawnLimited(LIMIT, await startTaskArgs(), {
    env: {
      LOG_FORMAT: "text",
      CLOSE_TIMEOUT_SECONDS: "2",
      // The stall rule is not this test's subject: a loop kept late by the
      // machine is a stall incident, judged by timing alone without `ss`,
      // whose recycle frees the held closes before they trip, so the line
      // awaited never comes (the "without ss" step timed out once at load
      // ~30; reproduced with the service stopped 400 ms in every 500:
      // two event_loop_stall recycles at cpu_percent=3, closed=15 and 200).
      EVENT_LOOP_STALL_MS: "0",
      ...(kernel.path === undefined ? {} : { PATH: kernel.path }),
    },
    prefix: kernel.prefix,
  });
  const held: Socket[] = [];
  try {
    const upgraded = (await Promise.all(
      ADDRESSES.map((address) => openAll(child.port, address, held)),
    )).flat();
    assert.ok(upgraded.length >= 32, `only ${upgraded.length} upgraded`);
    const goodbye = clientFrame(0x1, new TextEncoder().encode("Goodbye"));
    for (const socket of upgraded) {
      // The echo and the close are read and dropped, never answered.
      socket.resume();
      socket.write(goodbye);
    }
    await until(
      () => done.test(child.stdout()) || child.exited(),
      `${done} in the log`,
      { timeoutMs: 60_000 },
    );
    assert.equal(
      child.exited(),
      false,
      `ended: ${child.stdout()} ${child.stderr()}`,
    );
    const { socket, inbox } = await connect(
      `ws://127.0.0.1:${child.port}/echo`,
      { timeoutMs: 10_000 },
    );
    socket.send("hello");
    assert.equal(await inbox.next(), "hello");
    socket.close();
    assert.equal((await inbox.closed()).code, 1005);
    assert.doesNotMatch(child.stderr(), /panicked/);
    return child.stdout();
  } finally {
    for (const socket of held) socket.destroy();
  }
}

/** The recycle's line, and what it says of the closes and the addresses. */
function assertRecycled(log: string): void {
  const reason = log.match(RECYCLED)?.[1];
  assert.match(
    reason ?? log,
    /^\d+ closes never answered hold \d+% of what clients hold \(\d+ connections and streams open\); only a recycle frees them$/,
  );
  assert.match(log, /action=recycled .*struck=127\.0\.24\./);
}

Deno.test("closes never answered that hold the descriptors under the start task's permissions", async (t) => {
  const path = Deno.env.get("PATH") ?? "";
  // With no descriptor left `ss` cannot start either (EMFILE), so the
  // kernel cannot be asked to abort them: the listener is recycled.
  await t.step(
    "without CAP_NET_ADMIN, recycle the listener, and a new client is then served",
    async () => {
      const log = await unansweredUnderLimit(
        { path, prefix: WITHOUT_ABORT },
        RECYCLED,
      );
      assertRecycled(log);
    },
  );
  await t.step(
    "without ss, recycle the listener, and a new client is then served",
    async () => {
      const log = await unansweredUnderLimit({ prefix: [] }, RECYCLED);
      assertRecycled(log);
      assert.match(log, /sockets aborted aborted=0 .*reason="ss: /);
    },
  );
  await t.step(
    "as this machine runs it, recycle the listener or abort them, and a new client is then served",
    async () => {
      const log = await unansweredUnderLimit(
        { path, prefix: [] },
        new RegExp(`${RECYCLED.source}|sockets aborted aborted=[1-9]`),
      );
      if (!CAN_ABORT || RECYCLED.test(log)) assertRecycled(log);
    },
  );
});
