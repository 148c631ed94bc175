/**
 * The memory guard's reserve for upgrades admitted lately
 * (`fresh_admissions.ts`, `MemoryGuard.admitsNew`), with stand-in
 * connections and a fake clock: a connection is charged only from its
 * first message, so while an attack is on, each new one counts what its
 * first message may bring (stranger11 F3: waves of reconnecting
 * non-readers admitted while the count was low).
 */
import assert from "node:assert/strict";
import {
  type Backlogged,
  MemoryGuard,
  type ShedCause,
} from "../../lib/admission/memory_guard.ts";
import { FRESH_MS } from "../../lib/admission/fresh_admissions.ts";
import { SHED_NETWORK_MS } from "../../lib/admission/shed_networks.ts";
import { admit } from "../../lib/admission/admit.ts";
import { ConnectionRegistry } from "../../lib/admission/slots.ts";
import { SuspectList } from "../../lib/admission/suspects.ts";
import { DEFAULT_CONFIG } from "../../lib/config.ts";

const MiB = 1024 * 1024;
const ATTACKER = "10.1.1.0/24";

/** A connection from `network` holding `bytes`. */
class Holder implements Backlogged {
  shedBy: ShedCause | undefined;
  constructor(public bytes: number, readonly network = ATTACKER) {}
  recount(): number {
    return this.bytes;
  }
  shed(cause: ShedCause): void {
    this.shedBy = cause;
  }
}

/**
 * A guard with a 10 MiB budget and 2 MiB reserved per fresh upgrade (a
 * MAX_MESSAGE_BYTES of 1 MiB), on a clock the test moves.
 */
function guardAt(clock: { now: number }): MemoryGuard {
  return new MemoryGuard({
    budgetBytes: 10 * MiB,
    maxRssBytes: 0,
    freshBytes: 2 * MiB,
    now: () => clock.now,
  });
}

/** Sheds one 11 MiB holder from {@link ATTACKER}, which then leaves. */
function shedOneAndLetItGo(guard: MemoryGuard): void {
  const holder = new Holder(11 * MiB);
  guard.charge(holder, holder.bytes);
  assert.equal(holder.shedBy, "memory_budget");
  guard.charge(holder, 0);
  guard.sample();
  assert.equal(guard.refusing, undefined, "nothing held: not refusing");
}

Deno.test("MemoryGuard.admitsNew: with no shed lately, a burst of upgrades is admitted however large", () => {
  const clock = { now: 0 };
  const guard = guardAt(clock);
  try {
    for (let i = 0; i < 100; i++) guard.admitted({});
    assert.equal(guard.admitsNew(), true);
  } finally {
    guard.dispose();
  }
});

Deno.test("MemoryGuard.admitsNew: within SHED_NETWORK_MS of a shed, each upgrade of the last FRESH_MS with no message yet counts freshBytes against the budget", async (t) => {
  const clock = { now: 0 };
  const guard = guardAt(clock);
  try {
    shedOneAndLetItGo(guard);
    const leases: object[] = [];
    await t.step("five fit in 10 MiB at 2 MiB each, the sixth does not", () => {
      for (let i = 0; i < 5; i++) {
        assert.equal(guard.admitsNew("10.2.2.0/24"), true, `upgrade ${i}`);
        leases.push({});
        guard.admitted(leases.at(-1)!);
      }
      assert.equal(guard.admitsNew("10.2.2.0/24"), false);
    });
    await t.step(
      "one whose first message came (charged now) or that closed counts no more",
      () => {
        guard.settled(leases[0]!);
        assert.equal(guard.admitsNew("10.2.2.0/24"), true);
        guard.admitted({});
        assert.equal(guard.admitsNew("10.2.2.0/24"), false);
      },
    );
    await t.step("what the connections hold leaves less room", () => {
      clock.now += FRESH_MS;
      const holder = new Holder(4 * MiB, "10.3.3.0/24");
      guard.charge(holder, holder.bytes);
      for (let i = 0; i < 3; i++) guard.admitted({});
      assert.equal(guard.admitsNew("10.2.2.0/24"), false, "4 + 3 x 2 MiB");
      guard.charge(holder, 0);
      assert.equal(guard.admitsNew("10.2.2.0/24"), true, "0 + 3 x 2 MiB");
    });
    await t.step("a network shed lately gets half the room", () => {
      assert.equal(guard.admitsNew(ATTACKER), false, "3 admitted, room 5");
      clock.now += FRESH_MS;
      guard.admitted({});
      assert.equal(guard.admitsNew(ATTACKER), true, "1 admitted, half of 5");
      guard.admitted({});
      assert.equal(guard.admitsNew(ATTACKER), false, "2 admitted");
      assert.equal(guard.admitsNew("10.2.2.0/24"), true);
    });
    await t.step(
      `after ${SHED_NETWORK_MS} ms with no shed, none is reserved`,
      () => {
        for (let i = 0; i < 10; i++) guard.admitted({});
        assert.equal(guard.admitsNew(ATTACKER), false);
        clock.now = SHED_NETWORK_MS;
        assert.equal(guard.admitsNew(ATTACKER), true);
      },
    );
  } finally {
    guard.dispose();
  }
});

Deno.test("admit() refuses an upgrade past the reserve with 503 overloaded, and counts each one it admits", () => {
  const clock = { now: 0 };
  const memory = guardAt(clock);
  const registry = new ConnectionRegistry({ maxPerIp: 0, maxTotal: 0 });
  const services = {
    config: DEFAULT_CONFIG,
    registry,
    memory,
    suspects: new SuspectList(),
  } as unknown as Parameters<typeof admit>[0];
  const client = (ip: string) => ({
    kind: "ws" as const,
    path: "/echo",
    ip,
    key: ip,
    origin: undefined,
  });
  try {
    shedOneAndLetItGo(memory);
    const answers = [];
    for (let i = 1; i <= 6; i++) {
      answers.push(admit(services, client(`10.2.${i}.1`)));
    }
    const statuses = answers.map((answer) =>
      "release" in answer ? 101 : answer.status
    );
    assert.deepEqual(statuses, [101, 101, 101, 101, 101, 503]);
    const refused = answers[5]!;
    assert.ok(!("release" in refused));
    assert.equal(refused.reason, "overloaded");
    for (const answer of answers) if ("release" in answer) answer.release();
  } finally {
    memory.dispose();
  }
});
