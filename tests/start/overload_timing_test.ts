/**
 * Where the OS cannot tell which connection holds the process (no `ss`:
 * Deno Deploy, no iproute2; here `PATH` is empty), the overload watch
 * judges by timing, and room members like anyone: a member of a quiet room
 * connected before the attack is there before the trouble, so it is never
 * struck, while the silent attacker on another address is, and is refused
 * on its third try.
 */
import assert from "node:assert/strict";
import {
  assertIdleReturned,
  attackTwice,
  fragmentsUntilIncident,
  IDLE,
  recycles,
  startAttacked,
  startIdleBefore,
} from "./_overload.ts";

Deno.test(
  "without ss, a member of a quiet room connected before an endless fragmented message is never struck; the attacker is refused on its third try",
  async () => {
    await using service = await startAttacked({ PATH: "" });
    // Never sends, is sent nothing (alone in its room), rejoins after each
    // recycle.
    await using member = await startIdleBefore(service.port, "/room/quiet");
    const { third } = await attackTwice(
      service.port,
      (try_) => fragmentsUntilIncident(service.port, service.records, try_),
    );
    const found = await recycles(service.records, 2);
    assert.equal(third, 429, JSON.stringify(found));
    for (const record of found) {
      assert.match(String(record.kernel), /^ss: /, JSON.stringify(record));
      assert.ok(!String(record.struck).includes(IDLE), JSON.stringify(record));
    }
    await assertIdleReturned(member, 2);
  },
);
