/**
 * `deno task serve` where the process may destroy sockets (CAP_NET_ADMIN):
 * a repeat attacker is refused on its third try by whichever worker Deno
 * hands its upgrade to, even when it reconnects the moment it is cut (issue
 * #20: "the repeat attacker's address is refused on its third try"). The
 * worker that aborts it strikes it before the abort, so the listing
 * reaches the other worker (`lib/admission/suspect_peers.ts`) before the
 * client can know it was cut; struck after, the other worker admitted the
 * reconnect (the soak's pong, empty-frame and fragment rows: 101 on the
 * third try).
 *
 * @module
 */
import assert from "node:assert/strict";
import { controlFlood, openFrom } from "../../bench/overload_attacks.ts";
import { until } from "../_client.ts";
import {
  ATTACKER,
  CAN_ABORT,
  FLOOD_MAX_MS,
  startAttackedServe,
} from "./_overload.ts";

/** Upgrades opened at once on the cut: Deno spreads them over both workers. */
const RECONNECTS = 8;

Deno.test({
  name:
    "deno task serve: a pong flooder listed at its second incident is refused by every worker on the upgrades it opens the moment it is cut",
  ignore: !CAN_ABORT,
  async fn() {
    const { port, running, log } = await startAttackedServe();
    const struck = () =>
      log.records.filter((record) =>
        record.event === "overload_incident" &&
        String(record.struck).split(",").includes(ATTACKER)
      );
    const told = () =>
      JSON.stringify(
        log.records.filter((record) =>
          ["overload_incident", "message_too_big", "ws_refused"].includes(
            String(record.event),
          )
        ),
      );
    try {
      const first = await controlFlood(port, ATTACKER, "pong", FLOOD_MAX_MS);
      assert.equal(first.status, 101, "try 1 is upgraded");
      assert.ok(first.cut, `try 1 cut by the server: ${told()}`);
      await until(() => struck().length >= 1, "try 1 struck", {
        timeoutMs: 15_000,
      }).catch((error) => {
        throw new Error(`${error.message}: ${told()}`);
      });
      const second = await controlFlood(port, ATTACKER, "pong", FLOOD_MAX_MS);
      // The moment it is cut: no turn of the test's loop in between.
      const third = await Promise.all(
        Array.from({ length: RECONNECTS }, async () => {
          const opened = await openFrom(port, ATTACKER);
          opened.socket.destroy();
          return opened.status;
        }),
      );
      assert.equal(second.status, 101, `try 2 is upgraded: ${told()}`);
      assert.ok(second.cut, `try 2 cut by the server: ${told()}`);
      // Its line comes once the incident is over (after the strike).
      await until(() => struck().length >= 2, "try 2 struck", {
        timeoutMs: 15_000,
      }).catch((error) => {
        throw new Error(`${error.message}: ${third}: ${told()}`);
      });
      assert.deepEqual(
        third,
        Array(RECONNECTS).fill(429),
        `every upgrade of the third try refused: ${told()}`,
      );
    } finally {
      await running[Symbol.asyncDispose]();
      await log.ended();
    }
  },
});
