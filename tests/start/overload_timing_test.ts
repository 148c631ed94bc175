/**
 * Where the OS cannot tell which connection holds the process (no `ss`:
 * Deno Deploy, no iproute2; here `PATH` is empty), the overload watch
 * judges by timing, and room members like anyone: a member of a quiet room
 * connected before the attack is there before the trouble, so it is never
 * struck, while the silent attacker on another address is, and is refused
 * on its third try.
 */
import assert from "node:assert/strict";
import { endlessFragments } from "../../bench/overload_attacks.ts";
import { until } from "../_client.ts";
import {
  ATTACK_BYTES,
  ATTACK_BYTES_PER_SECOND,
  ATTACKER,
  attackTwice,
  IDLE,
  IDLE_BEFORE_MS,
  recycles,
  startAttacked,
  startIdleClient,
} from "./_overload.ts";

Deno.test(
  "without ss, a member of a quiet room connected before an endless fragmented message is never struck; the attacker is refused on its third try",
  async () => {
    await using service = await startAttacked({ PATH: "" });
    // Never sends, is sent nothing (alone in its room), rejoins after each
    // recycle.
    const member = startIdleClient(service.port, "/room/quiet");
    await until(() => member.statuses.length > 0, "the member's upgrade");
    const since = performance.now();
    await until(
      () => performance.now() - since >= IDLE_BEFORE_MS,
      `the member connected for ${IDLE_BEFORE_MS} ms`,
      { timeoutMs: IDLE_BEFORE_MS * 2 },
    );
    const { third } = await attackTwice(service.port, async (try_) => {
      const result = await endlessFragments(
        service.port,
        ATTACKER,
        ATTACK_BYTES,
        { bytesPerSecond: ATTACK_BYTES_PER_SECOND },
      );
      assert.equal(result.status, 101, `try ${try_} is upgraded`);
      await recycles(service.records, try_);
    });
    const found = await recycles(service.records, 2);
    assert.equal(third, 429, JSON.stringify(found));
    for (const record of found) {
      assert.match(String(record.kernel), /^ss: /, JSON.stringify(record));
      assert.ok(!String(record.struck).includes(IDLE), JSON.stringify(record));
    }
    await until(
      () => member.statuses.length >= 3,
      "the member's return after both recycles",
    );
    await member.stop();
    assert.ok(
      member.statuses.every((status) => status === 101),
      `the member's upgrades: ${member.statuses}`,
    );
  },
);
