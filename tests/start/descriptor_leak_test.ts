/**
 * Upgrades reset by their client leak a descriptor in Deno 2.9 that only the
 * process ending frees (`lib/start/descriptor_budget.ts`). Under a low
 * descriptor limit (`prlimit`), real resets on loopback from several
 * 127.x addresses: `/healthz` and `/metrics` report the leak against the
 * limit, and once the leaks would starve the process it drains its
 * connections and exits with 75 for its supervisor, saying why.
 *
 * @module
 */
import assert from "node:assert/strict";
import { startTaskArgs } from "../_server.ts";
import { Inbox, openWebSocket, until } from "../_client.ts";
import { type LimitedChild, spawnLimited } from "../_limited.ts";
import { withDeadline } from "../../bench/wire.ts";
import { openFrom, resetUpgrades } from "../../bench/overload_attacks.ts";
import { startBystander } from "../../bench/overload_bystander.ts";
import { FIRST_ECHO_MS } from "./_overload.ts";
import { EXIT_DESCRIPTORS_LEAKED } from "../../lib/start/descriptor_budget.ts";
import { LEAK_EXIT_NOTICE_MS } from "../../lib/start/overload_watch_options.ts";

const LIMIT = 256;
/** Resets per burst and address. */
const BURST = 24;
/**
 * Rotating sources, each in its own /24, as a stranger with many networks
 * would: each address is struck at the `descriptor_leak` incidents and
 * refused (429, no leak) from its second, its /24 struck once; 8
 * addresses took 4,008 resets to end the process, 32 fewer.
 */
const ROTATING = (burst: number) => `127.0.${30 + burst % 32}.1`;
/** The /24 of the attacker that takes a fresh address of it for each burst. */
const ONE_NETWORK = "127.0.24";
/**
 * The `descriptor_leak` incident line that lists {@link ONE_NETWORK}'s /24.
 * Not `/healthz`'s count of refused keys: an address whose leaks the watch
 * counted at two incidents (a burst split by its once-a-second count) is
 * listed alone, its /24 struck once (`abortStrikes`).
 */
const LISTED = new RegExp(
  `^overload incident cause=descriptor_leak .*refused="(?:[^"]*,)?${
    ONE_NETWORK.replaceAll(".", "\\.")
  }\\.0/24 \\d+s`,
  "m",
);
/**
 * Upgrades an attack of one /24 may have in flight (taken by Deno, neither
 * opened nor counted as leaked) before it holds its next burst back: the
 * watch counts a leak after 2 s of prompt event loop, once a second, and
 * ~100 uncounted at the listing held the cap's 192 slots then (144 now;
 * 503 for the neighbour) and, once counted, would take the process past
 * half of LIMIT.
 */
const IN_FLIGHT = BURST;
/** Uncounted descriptors taken for none: a request's socket in passing. */
const SETTLED = 2;
/** More resets than LIMIT descriptors several times over: a bound, not a goal. */
const MAX_RESETS = LIMIT * 16;
const EXITED =
  /overload incident cause=descriptor_leak action=exit .*reason="([^"]+)"/;

/** The start task's flags, with `-P` swapped for `--allow-all`. */
async function allowAllArgs(): Promise<string[]> {
  return (await startTaskArgs()).map((arg) => arg === "-P" ? "-A" : arg);
}

/** What {@link resetUntil} sends, and until when. */
interface Attack {
  /** True once the attack has brought what the step awaits. */
  done: () => boolean | Promise<boolean>;
  /** What `done` awaits, for the error message. */
  what: string;
  /** The source address of each burst. @default ROTATING */
  from?: (burst: number) => string;
  /**
   * Read after `done()` said no: false holds the next burst back (within
   * the same deadline and bound). @default always true
   */
  ready?: () => boolean;
}

/**
 * Resets upgrades, a burst from `attack.from(burst)` at a time, until
 * `attack.done()` or the bound.
 */
async function resetUntil(
  child: LimitedChild,
  attack: Attack,
): Promise<number> {
  const { done, what, from = ROTATING, ready = () => true } = attack;
  let sent = 0;
  let burst = 0;
  const deadline = performance.now() + 90_000;
  while (!(await done())) {
    assert.ok(
      sent < MAX_RESETS && performance.now() < deadline,
      `${what} after ${sent} resets: ${child.stdout()} ${child.stderr()}`,
    );
    if (child.exited()) continue;
    if (ready()) {
      await resetUpgrades(child.port, from(burst++), BURST).catch(() => {});
      sent += BURST;
    }
    // The watch counts a leak after 2 s of prompt event loop.
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return sent;
}

/** The parts of `/healthz` these tests read. */
interface Health {
  status: string;
  descriptors: {
    open: number | null;
    limit: number | null;
    leakedUpgrades: number;
  };
  cap: { max: number; taken: number; leaked: number; free: number | null };
  overload: { watchdog: boolean; suspects: { refused: number } };
}

/** The child's `/healthz` body, or undefined when it cannot answer. */
async function health(port: number): Promise<Health | undefined> {
  try {
    const response = await withDeadline(
      fetch(`http://127.0.0.1:${port}/healthz`),
      5000,
      "/healthz",
    );
    return await response.json();
  } catch {
    return undefined;
  }
}

Deno.test(
  "upgrades reset by the client are reported against the open-file limit, and past half of it the process drains and exits with 75",
  async (t) => {
    // With `ss` on PATH, as where it is deployed: without the kernel's count
    // a loop held by the machine's load is judged by timing alone and
    // recycled (docs/limits.md), closing the bystander 1013 before the
    // drain (8 of 24 runs beside 3 `yes`, leak3).
    await using child = await spawnLimited(LIMIT, await allowAllArgs(), {
      env: {
        LOG_FORMAT: "text",
        SHUTDOWN_GRACE_SECONDS: "1",
        PATH: Deno.env.get("PATH") ?? "",
        // The stall rule is not this test's subject: even judged by the
        // kernel's count ("the machine is busy ..., not a flood"), two
        // stall incidents within 60 s make /healthz say degraded, as
        // documented (3 of 14 runs at load 33-40, flakes2).
        EVENT_LOOP_STALL_MS: "0",
      },
    });
    const url = `ws://127.0.0.1:${child.port}/echo`;
    // A fresh child's first upgrade, before any reset: no bound of the
    // service's. 5 s failed it 3 times at load 31-46 (flakes, stop 37);
    // the overload tests' bystander's first echo took up to 18.8 s there.
    const bystander = await withDeadline(
      openWebSocket(url),
      FIRST_ECHO_MS,
      "open",
    );
    const inbox = new Inbox(bystander);

    await t.step("/healthz and /metrics report the leak", async () => {
      let seen: Health | undefined;
      await resetUntil(child, {
        done: async () => {
          seen = await health(child.port);
          return (seen?.descriptors?.leakedUpgrades ?? 0) >= 16;
        },
        what: "no leaked upgrade in /healthz",
      });
      const { descriptors, status, cap } = seen!;
      assert.equal(descriptors.limit, LIMIT);
      // A leaked upgrade is no connection: it lets its slot go, but its
      // descriptor counts against the cap (144 at LIMIT) until the exit.
      assert.equal(cap.leaked, descriptors.leakedUpgrades, JSON.stringify(cap));
      assert.equal(cap.free, cap.max - cap.taken - cap.leaked);
      assert.ok(
        (descriptors.open ?? 0) >= descriptors.leakedUpgrades,
        JSON.stringify(descriptors),
      );
      assert.ok(
        descriptors.leakedUpgrades < LIMIT / 2,
        JSON.stringify(descriptors),
      );
      // "'degraded' !== 'ok'" in 2 of 12 runs at load 33-40 said too
      // little: which incidents, and the watch's lines.
      assert.equal(
        status,
        "ok",
        `${JSON.stringify(seen)}\n${
          child.stdout().split("\n").filter((line) =>
            line.startsWith("overload ")
          ).join("\n")
        }`,
      );
      const metrics = await (await fetch(
        `http://127.0.0.1:${child.port}/metrics`,
      )).text();
      assert.match(metrics, /^ws_echo_upgrades_leaked_total [1-9]\d*$/m);
      assert.match(
        metrics,
        new RegExp(`^ws_echo_descriptors_limit ${LIMIT}$`, "m"),
      );
      assert.match(metrics, /^ws_echo_descriptors_open [1-9]\d*$/m);
    });

    await t.step(
      "past half the limit /healthz says 503 for LEAK_EXIT_NOTICE_MS, then it drains and exits with 75",
      async () => {
        let failingAt: number | undefined;
        await resetUntil(child, {
          done: async () => {
            const seen = await health(child.port);
            if (seen?.status === "failing") failingAt = performance.now();
            return failingAt !== undefined || child.exited();
          },
          what: "no 503 failing",
        });
        assert.ok(failingAt, `exited unseen: ${child.stdout()}`);
        // Newcomers are refused meanwhile: nothing to leak, nothing to drop.
        // ECONNRESET/ECONNREFUSED here in 4 of 24 heavy runs (stop 36) said
        // nothing more: how long after "failing", and the child's account.
        const status = await upgradeFrom(child.port, "127.0.26.1").catch(
          async (error) =>
            `${error} ${
              Math.round(performance.now() - failingAt!)
            } ms after failing was seen; exited ${child.exited()}; ${
              JSON.stringify(await health(child.port))
            }\n${child.stdout().split("\n").slice(-30).join("\n")}\n${
              child.stderr().split("\n").slice(-10).join("\n")
            }`,
        );
        assert.equal(
          status,
          503,
          typeof status === "string" ? status : undefined,
        );
        // One request at a time until the exit: 503 all along.
        let lastFailingAt = failingAt;
        const deadline = failingAt + LEAK_EXIT_NOTICE_MS + 20_000;
        while (!child.exited()) {
          assert.ok(performance.now() < deadline, "no exit after the notice");
          const seen = await health(child.port);
          if (seen === undefined) continue;
          assert.match(seen.status, /^(failing|shutting_down)$/);
          lastFailingAt = performance.now();
        }
        // A timer of the child's: late under load, never early.
        assert.ok(
          lastFailingAt - failingAt >= LEAK_EXIT_NOTICE_MS - 1000,
          `503 for ${Math.round(lastFailingAt - failingAt)} ms`,
        );
        const { code } = await child.status;
        assert.equal(code, EXIT_DESCRIPTORS_LEAKED);
        const reason = child.stdout().match(EXITED)?.[1];
        assert.match(
          reason ?? child.stdout(),
          /^\d+ leaked upgrades hold (?:[5-9]\d|100)% of the open-file limit 256; only a restart frees them$/,
        );
        // Drained, not dropped: the connected client was told to go.
        const closed = await withDeadline(
          inbox.closed(),
          5000,
          "bystander close",
        );
        // The diagnosis of another code (1013 once, in a busy full run):
        // which close it was: the child's incidents and its last lines.
        assert.equal(
          closed.code,
          1001,
          closed.code === 1001
            ? ""
            : `closed ${closed.code} "${closed.reason}"\n${
              child.stdout().split("\n").filter((line) =>
                line.startsWith("overload ")
              ).join("\n")
            }\n...\n${child.stdout().split("\n").slice(-20).join("\n")}`,
        );
      },
    );
  },
);

Deno.test(
  "under the start task's permissions (limit unknown), leaked upgrades that make accepting fail end the process with 75",
  async () => {
    await using child = await spawnLimited(LIMIT, await startTaskArgs(), {
      env: { LOG_FORMAT: "text", SHUTDOWN_GRACE_SECONDS: "1" },
    });
    const before = await health(child.port);
    assert.deepEqual(before?.descriptors, {
      open: null,
      limit: null,
      leakedUpgrades: 0,
    });
    await resetUntil(child, { done: () => child.exited(), what: "no exit" });
    assert.equal((await child.status).code, EXIT_DESCRIPTORS_LEAKED);
    assert.match(
      child.stdout().match(EXITED)?.[1] ?? child.stdout(),
      /^accepting failed for want of descriptors, and \d+ leaked upgrades hold (?:[5-9]\d|100)% of those clients hold \(\d+ connections open\); only a restart frees them$/,
    );
  },
);

/**
 * The child's `/healthz` once `ok(health)`, polled every 50 ms.
 *
 * @throws {Deno.errors.TimedOut} When it is not so within 10 s.
 */
async function untilHealth(
  port: number,
  ok: (health: Health) => boolean,
  what: string,
): Promise<Health> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    const seen = await health(port);
    if (seen && ok(seen)) return seen;
    if (performance.now() > deadline) {
      throw new Deno.errors.TimedOut(`Timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * The child's open descriptors now, from `/proc`: `/healthz` reads its own
 * count once a second, too late to pace an attack by.
 */
function openDescriptors(child: LimitedChild): number {
  let count = 0;
  for (const _ of Deno.readDirSync(`/proc/${child.pid}/fd`)) count++;
  return count;
}

/** The status of one upgrade from `address`; the socket is closed. */
async function upgradeFrom(port: number, address: string): Promise<number> {
  const opened = await openFrom(port, address);
  opened.socket.destroy();
  return opened.status;
}

Deno.test(
  "an attacker resetting upgrades from a fresh address of one /24 each time gets the /24 refused at its second incident, but not a neighbour exchanging messages",
  async (t) => {
    await using child = await spawnLimited(LIMIT, await allowAllArgs(), {
      env: { LOG_FORMAT: "text" },
    });
    const neighbour = startBystander(child.port, `${ONE_NETWORK}.200`);
    try {
      await until(
        () => neighbour.report.echoes > 0,
        "the neighbour's first echo",
      );
      // The watchdog thread holds its descriptors before the count starts.
      let last = await untilHealth(
        child.port,
        (health) => health.overload.watchdog,
        "the watchdog thread",
      );
      const before = openDescriptors(child) - last.descriptors.leakedUpgrades;
      let inFlight = 0;
      await t.step("the /24 is refused at its second incident", async () => {
        await resetUntil(child, {
          done: async () => {
            assert.ok(!child.exited(), `exited: ${child.stdout()}`);
            last = await health(child.port) ?? last;
            // The count read after the leaks: it can only overstate.
            inFlight = openDescriptors(child) - before -
              last.descriptors.leakedUpgrades;
            return LISTED.test(child.stdout()) && inFlight <= SETTLED;
          },
          what: "the /24 listed and every leak counted",
          from: (burst) => `${ONE_NETWORK}.${burst + 1}`,
          ready: () => !LISTED.test(child.stdout()) && inFlight < IN_FLIGHT,
        });
        // Every upgrade the attacker sent is counted: the process will not
        // end, and the cap holds its slots only until they are let go.
        assert.ok(
          last.descriptors.leakedUpgrades < LIMIT / 2,
          JSON.stringify(last),
        );
        assert.equal(last.status, "ok");
        assert.equal(await upgradeFrom(child.port, `${ONE_NETWORK}.250`), 429);
      });
      await t.step(
        "the neighbour and another /24 are admitted",
        async () => {
          // The diagnosis of any other status: which refusal it was.
          const status = await upgradeFrom(child.port, `${ONE_NETWORK}.200`);
          assert.equal(
            status,
            101,
            status === 101
              ? ""
              : `${JSON.stringify(await health(child.port))}\n${
                child.stdout().split("\n").slice(-30).join("\n")
              }`,
          );
          assert.equal(await upgradeFrom(child.port, "127.0.25.1"), 101);
          assert.deepEqual([...neighbour.report.refusals], []);
        },
      );
    } finally {
      await neighbour.stop();
    }
  },
);
