/**
 * Under `deno serve --parallel` RSS is the process's, shared by every
 * worker: the overload watch of one worker must weigh it against the bytes
 * the connections of all workers hold. Two apps stand for two workers, each
 * with its own end of one BroadcastChannel; RSS and the exit are fakes.
 */
import assert from "node:assert/strict";
import { BroadcastMemoryPeers } from "../../lib/admission/memory_peers.ts";
import type { Backlogged } from "../../lib/admission/memory_guard.ts";
import { OverloadWatch } from "../../lib/start/overload_watch.ts";
import { SAMPLE_MS } from "../../lib/start/overload_watch_options.ts";
import { createApp } from "../../routes/app.ts";
import { parseConfig } from "../../lib/config.ts";
import { until } from "../_client.ts";

const MiB = 1024 * 1024;
const MAX_RSS = 4096 * MiB;

/** A connection holding what its non-reading client has not taken. */
class Holder implements Backlogged {
  bytes = 0;
  recount(): number {
    return this.bytes;
  }
  shed(): void {}
}

/** One worker: an app on the shared channel `name`. */
function worker(name: string) {
  const peers = new BroadcastMemoryPeers({ name });
  const app = createApp(
    parseConfig({
      MAX_RSS_BYTES: String(MAX_RSS),
      MEMORY_BUDGET_BYTES: "0",
      EVENT_LOOP_STALL_MS: "0",
    }),
    { log: () => {}, memoryPeers: peers },
  );
  return { ...app, peers };
}

Deno.test("deno serve: RSS held by another worker's connections is counted, not taken for fragments", async (t) => {
  const name = `overload-workers-test-${crypto.randomUUID()}`;
  const streaming = worker(name);
  const watching = worker(name);
  // The process's RSS, as every worker reads it: near the limit already.
  let rss = 2500 * MiB;
  const exits: number[] = [];
  const watch = new OverloadWatch(watching.services, {
    readRss: () => rss,
    exit: (code) => exits.push(code),
    failExitDelayMs: 0,
  });
  const holder = new Holder();
  const samples = (count: number) => {
    const heard = watching.peers.received;
    return until(
      () => watching.peers.received >= heard + count,
      `${count} of the other worker's posts`,
    );
  };
  try {
    await t.step(
      "growth the other worker's clients hold is no incident",
      async () => {
        // Non-reading /stream clients on the other worker: its counted
        // bytes and the process's RSS grow together, 100 MiB a sample.
        for (let step = 1; step <= 10; step++) {
          holder.bytes = step * 100 * MiB;
          streaming.services.memory.charge(holder, holder.bytes);
          streaming.services.memory.processCounted(0);
          await samples(1);
          rss = 2500 * MiB + holder.bytes;
          await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
        }
        assert.equal(watching.services.overload.incidents, 0);
        assert.deepEqual(exits, []);
      },
    );
    await t.step(
      "the same growth held by no worker ends the process",
      async () => {
        // Past MAX_RSS_BYTES plus RSS_MARGIN_SHARE: under it a serve
        // worker reports (`UNDER_MARGIN_REASON`, incident_actions.ts).
        rss += 1700 * MiB;
        await until(() => exits.length > 0, "the exit");
        assert.deepEqual(exits, [1]);
        assert.equal(
          watching.services.overload.lastIncident?.cause,
          "uncounted_memory",
        );
      },
    );
  } finally {
    watch.dispose();
    for (const { services } of [streaming, watching]) {
      services.memory.charge(holder, 0);
      services.memory.dispose();
      services.registry.dispose();
    }
  }
});
