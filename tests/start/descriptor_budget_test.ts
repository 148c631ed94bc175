/**
 * When leaked upgrades starve the process (`descriptor_budget.ts`): the
 * rule alone, without a process.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  LEAK_EXIT_SHARE,
  starvedByLeaks,
} from "../../lib/start/descriptor_budget.ts";

const limit = { soft: 1024, hard: 1024 };

Deno.test("starvedByLeaks() with the open-file limit known", async (t) => {
  await t.step("under half the limit the process goes on", () => {
    const leaked = 1024 * LEAK_EXIT_SHARE - 1;
    assert.equal(
      starvedByLeaks({ leaked, limit, held: 0, acceptFailures: 3 }),
      undefined,
    );
  });
  await t.step("at half the limit it must end, whatever else holds", () => {
    assert.equal(
      starvedByLeaks({ leaked: 512, limit, held: 400, acceptFailures: 0 }),
      "512 leaked upgrades hold 50% of the open-file limit 1024; only a restart frees them",
    );
  });
  await t.step("an unlimited limit never ends it", () => {
    const unlimited = { soft: Infinity, hard: Infinity };
    assert.equal(
      starvedByLeaks({
        leaked: 1e6,
        limit: unlimited,
        held: 0,
        acceptFailures: 0,
      }),
      undefined,
    );
  });
});

Deno.test("starvedByLeaks() with the open-file limit unknown", async (t) => {
  const unknown = "unknown" as const;
  await t.step("while accepting works the process goes on", () => {
    assert.equal(
      starvedByLeaks({
        leaked: 5000,
        limit: unknown,
        held: 0,
        acceptFailures: 0,
      }),
      undefined,
    );
  });
  await t.step(
    "idle TCP connections that exhaust it with a few leaks do not end it",
    () => {
      assert.equal(
        starvedByLeaks({
          leaked: 63,
          limit: unknown,
          held: 0,
          acceptFailures: 4,
        }),
        undefined,
      );
    },
  );
  await t.step(
    "accepting failed and the clients' descriptors mostly leaked: it must end",
    () => {
      assert.equal(
        starvedByLeaks({
          leaked: 150,
          limit: unknown,
          held: 50,
          acceptFailures: 1,
        }),
        "accepting failed for want of descriptors, and 150 leaked upgrades hold 75% of those clients hold (50 connections open); only a restart frees them",
      );
    },
  );
  await t.step(
    "accepting failed with most descriptors held by connections: it goes on",
    () => {
      assert.equal(
        starvedByLeaks({
          leaked: 100,
          limit: unknown,
          held: 900,
          acceptFailures: 2,
        }),
        undefined,
      );
    },
  );
});
