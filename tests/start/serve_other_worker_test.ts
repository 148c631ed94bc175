/**
 * Under `deno serve --parallel` every worker reads the process's RSS and
 * the kernel's count of every socket on the port, but judges only its own
 * connections. A worker whose sweep took all of its own split attackers
 * leaves the growth to the worker still holding the rest, up to MAX_RSS_BYTES
 * plus `ABORT_KILL_MARGIN_SHARE`, instead of ending the process at plus
 * `RSS_MARGIN_SHARE` (stranger8 F2: the process ended at 1.27-1.44x while
 * the other worker was sweeping ~200 attackers).
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  findSuspects,
  leftToOtherWorker,
  OthersReading,
} from "../../lib/start/incident_suspects.ts";
import {
  ABORT_KILL_MARGIN_SHARE,
  RSS_MARGIN_SHARE,
} from "../../lib/start/rss_watchdog.ts";
import { SPLIT_CONNECTION_BYTES } from "../../lib/start/overload_attribution.ts";
import { serveExitReason } from "../../lib/start/incident_actions.ts";
import { SuspectList } from "../../lib/admission/suspects.ts";
import type { Activity } from "../../lib/admission/slots.ts";
import type { Services } from "../../lib/services.ts";

const MiB = 1024 * 1024;
const config = { maxRssBytes: 256 * MiB };

/** This worker's one connection: a bystander exchanging messages. */
function bystanderServices(suspects: SuspectList) {
  const startedAt = Date.now() - 10_000;
  const activity: Activity = {
    opened: true,
    startedAt,
    messages: 40,
    bytesIn: 400,
    peer: { transport: "tcp", hostname: "127.0.0.9", port: 5000 },
    sent: 40,
    lastMessageAt: Date.now(),
    closingSince: undefined,
  };
  return {
    registry: {
      connections: () => [[{ activity: () => activity }, "127.0.0.9"]],
    },
    suspects,
    config: { maxMessageBytes: MiB },
  } as unknown as Pick<Services, "registry" | "suspects" | "config">;
}

/** The kernel's count: the bystander, and `others` sockets of another worker. */
function reading(others: number, bytes: number) {
  const counted = new Map<string, number>([["127.0.0.9:5000", 2048]]);
  for (let i = 0; i < others; i++) counted.set(`127.1.${i}.1:40000`, bytes);
  return { bytes: counted, at: performance.now() - 100 };
}

const now = performance.now();
const moments = {
  settledAt: now - 1000,
  calmSince: -Infinity,
  troubleSince: now - 500,
};

/**
 * What a worker finds at an incident whose reading follows one where the
 * other worker's `others` sockets had read `before` bytes each, now `after`.
 */
function foundAfter(others: number, before: number, after: number) {
  const previous = new OthersReading();
  const services = bystanderServices(new SuspectList());
  findSuspects(services, moments, reading(others, before), previous);
  return findSuspects(services, moments, reading(others, after), previous);
}

Deno.test("a serve worker with nothing of its own to free leaves growth to the worker holding it", async (t) => {
  await t.step(
    "the kernel's count shows bytes arriving on sockets that are none of its connections",
    () => {
      const found = foundAfter(200, 1 * MiB, 2 * MiB);
      assert.equal(found.othersReading, 200);
      assert.equal(found.noneUnseen, true);
      assert.deepEqual(found.holding.peers, []);
    },
  );
  await t.step(
    "sockets that brought no more than a handshake since the previous reading are not counted",
    () => {
      const found = foundAfter(5, MiB, MiB + SPLIT_CONNECTION_BYTES);
      assert.equal(found.othersReading, 0);
    },
  );
  await t.step(
    "an ordinary echo client of the other worker, however much it read in its life, is not counted",
    () => {
      // One client that echoed 1 MiB over its life and is idle now
      // (review stop35 F-C: it made the margin 50% for good).
      const found = foundAfter(1, MiB, MiB);
      assert.equal(found.othersReading, 0);
      const first = findSuspects(
        bystanderServices(new SuspectList()),
        moments,
        reading(1, MiB),
      );
      assert.equal(first.othersReading, 0);
    },
  );
  const between = config.maxRssBytes *
    (1 + (RSS_MARGIN_SHARE + ABORT_KILL_MARGIN_SHARE) / 2);
  await t.step(
    "past MAX_RSS_BYTES plus RSS_MARGIN_SHARE it waits while the other worker holds them",
    () => {
      const found = foundAfter(200, MiB, 2 * MiB);
      assert.equal(
        leftToOtherWorker("uncounted_memory", found, between, config),
        true,
      );
    },
  );
  await t.step("and ends the process when nobody else holds any", () => {
    assert.equal(
      leftToOtherWorker(
        "uncounted_memory",
        foundAfter(0, 0, 0),
        between,
        config,
      ),
      false,
    );
  });
  await t.step(
    "or when the other worker's only client is an ordinary echo client",
    () => {
      assert.equal(
        leftToOtherWorker(
          "uncounted_memory",
          foundAfter(1, MiB, MiB),
          between,
          config,
        ),
        false,
      );
    },
  );
  await t.step("or past plus ABORT_KILL_MARGIN_SHARE whoever holds it", () => {
    const found = foundAfter(200, MiB, 2 * MiB);
    const past = config.maxRssBytes * (1 + ABORT_KILL_MARGIN_SHARE);
    assert.equal(
      leftToOtherWorker("uncounted_memory", found, past, config),
      false,
    );
  });
  await t.step(
    "when it does end the process, the log says what it found",
    () => {
      const found = foundAfter(200, MiB, 2 * MiB);
      assert.equal(
        serveExitReason(undefined, found),
        "nothing of this worker's to abort (0 past their allowance, 0 holding, 200 other workers' sockets bringing bytes)",
      );
      assert.equal(
        serveExitReason({ short: "ss -K refused 3" }, found),
        "aborting fell short: ss -K refused 3",
      );
    },
  );
});
