/**
 * `deno task serve` under clients that send 1 MiB messages and never read
 * their echoes, from a fresh address each time they reconnect (issue #20,
 * the attack review: 64 of them ended the process on `uncounted_memory` at
 * RSS 345 MiB against MAX_RSS_BYTES 300 MiB). The workers share one RSS, so
 * they share one memory budget: the process lives, the non-readers it
 * closes are closed for holding too much (how many it closes depends on the
 * machine), and a reading bystander keeps echoing.
 */
import assert from "node:assert/strict";
import type net from "node:net";
import { clientFrame } from "../../bench/wire.ts";
import { openFrom } from "../../bench/overload_attacks.ts";
import { startBystander } from "../../bench/overload_bystander.ts";
import { until } from "../_client.ts";
import { BYSTANDER, MiB, peakRss, startAttackedServe } from "./_overload.ts";
import { ABORT_KILL_MARGIN_SHARE } from "../../lib/start/rss_watchdog.ts";

/** The attack review's MAX_RSS_BYTES for this attack. */
const MAX_RSS = 300 * MiB;
/** MEMORY_BUDGET_BYTES: its default. */
const MEMORY_BUDGET = 96 * MiB;
const NON_READERS = 64;
/** How long the non-readers keep reconnecting, in ms. */
const ATTACK_MS = 12_000;
/** Each non-reader's messages: 1 MiB every 250 ms (4 MiB/s, its byte rate). */
const EVERY_MS = 250;

/** The `n`th address a non-reader connects from: 127.0.44.1 onwards. */
function address(n: number): string {
  return `127.0.${44 + Math.floor(n / 254)}.${1 + n % 254}`;
}

/**
 * One non-reader: connects, sends a 1 MiB message every {@link EVERY_MS}
 * while its own queue is under 4 MiB, never reads, and connects again from
 * a fresh address whenever it is closed or refused, until `end`.
 */
async function nonReader(
  port: number,
  next: () => number,
  end: number,
  sockets: Set<net.Socket>,
): Promise<void> {
  const message = clientFrame(0x2, new Uint8Array(MiB));
  while (performance.now() < end) {
    const opened = await openFrom(port, address(next())).catch(() => undefined);
    if (!opened || opened.status !== 101) {
      opened?.socket.destroy();
      await new Promise((resolve) => setTimeout(resolve, 100));
      continue;
    }
    const socket = opened.socket;
    sockets.add(socket);
    socket.on("error", () => {});
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (performance.now() >= end) socket.destroy();
        else if (socket.writableLength < 4 * MiB) socket.write(message);
      }, EVERY_MS);
      socket.once("close", () => {
        clearInterval(timer);
        resolve();
      });
    });
    sockets.delete(socket);
  }
}

Deno.test({
  name:
    "deno task serve: 64 clients that send 1 MiB messages and never read, reconnecting from fresh addresses: the process lives within MAX_RSS_BYTES plus the watchdog's last margin, a bystander keeps echoing, and those the service closes are closed for holding too much",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const { port, running, log } = await startAttackedServe({
      MAX_RSS_BYTES: String(MAX_RSS),
      MEMORY_BUDGET_BYTES: String(MEMORY_BUDGET),
    });
    const sockets = new Set<net.Socket>();
    const bystander = startBystander(port, BYSTANDER);
    try {
      await until(() => bystander.report.echoes > 0, "the bystander's echo", {
        timeoutMs: 10_000,
      });
      let n = 0;
      const end = performance.now() + ATTACK_MS;
      await Promise.all(
        Array.from(
          { length: NON_READERS },
          () => nonReader(port, () => n++, end, sockets),
        ),
      );
      const echoes = bystander.report.echoes;
      await until(
        () => bystander.report.echoes > echoes,
        "the bystander to echo after the flood",
        // 5 s failed once without CAP_NET_ADMIN at load 25, where the
        // process gets a sixth of a core; the gaps are measured quiet.
        { timeoutMs: 10_000 },
      ).catch((error) => {
        const incidents = log.records.filter((record) =>
          record.event === "overload_incident"
        ).map((record) => `${record.cause} ${record.action}`);
        throw new Error(
          `${error.message}; incidents: ${incidents.join(", ")}; bystander ${
            JSON.stringify({
              ...bystander.report,
              closes: [...bystander.report.closes],
            })
          }`,
        );
      });
      const health = await fetch(`http://127.0.0.1:${port}/healthz`, {
        signal: AbortSignal.timeout(5000),
      });
      assert.equal(health.status, 200, "the process lives");
      // One RSS holds what every worker queues: each holds its part.
      const { memory } = await health.json();
      assert.equal(memory.budgetBytes, MEMORY_BUDGET / 2);
      const peak = peakRss(running);
      // Not MAX_RSS_BYTES plus 25%: on a quiet machine the non-readers send
      // faster and RSS peaked at 387, 396 and 406 MiB with no incident at all
      // (3 of 3 runs alone, load 0.1-1.4; under load 288-314 MiB): what Deno
      // and the allocator hold for 64 sockets of 1 MiB messages beyond the
      // counted queues (docs/limits.md). The bound here is the RSS
      // watchdog's last one; the old main peaked at 504 MiB.
      assert.ok(
        peak <= MAX_RSS * (1 + ABORT_KILL_MARGIN_SHARE),
        `peak RSS ${(peak / MiB).toFixed(0)} MiB, MAX_RSS_BYTES ${
          MAX_RSS / MiB
        } MiB plus ${ABORT_KILL_MARGIN_SHARE * 100}%; incidents: ${
          JSON.stringify(
            log.records.filter((record) =>
              record.event === "overload_incident"
            ),
          )
        }`,
      );
    } finally {
      for (const socket of sockets) socket.destroy();
      const report = await bystander.stop();
      assert.equal(report.closes.get(1013), undefined, "the bystander stayed");
      await running[Symbol.asyncDispose]();
      await log.ended();
    }
    const exits = log.records.filter((record) =>
      record.event === "overload_incident" && record.action === "exit"
    );
    assert.deepEqual(exits, [], "no incident ended the process");
    const closed = log.records.filter((record) =>
      record.event === "ws_close" &&
      /^127\.0\.(4[4-9]|5\d)\./.test(String(record.ip))
    );
    // The service's closes; the rest ended when the test did (code 0). How
    // many there are depends on how fast the process reads: a non-reader's
    // first echoes sit in the kernel's buffers (about 3 MiB per socket in
    // Send-Q alone, `bench/non_readers.ts`); none in one run at load 33.
    const byService = closed.filter((record) => record.limit !== undefined);
    for (const record of byService) {
      assert.ok(
        ["slow_reader", "memory_budget", "rss"].includes(
          String(record.limit),
        ) &&
          [1008, 1013].includes(Number(record.code)),
        JSON.stringify(record),
      );
    }
  },
});
