/**
 * What a rate limit means, held against its definition: a bucket holds at
 * most `burst` units, gains `rate` units a second of time between the
 * clock readings it is given, and a take either pays in full or is refused
 * taking nothing. The service reads the clock once per turn of the event
 * loop (`turn_clock.ts`), so many takes share one reading; a shortcut for
 * them must not change what any take answers.
 *
 * @module
 */
import assert from "node:assert/strict";
import { TokenBucket } from "../../lib/admission/token_bucket.ts";

/** The definition written out: every take refills from its own reading. */
class Definition {
  tokens: number;
  at: number;
  constructor(readonly perMs: number, readonly burst: number, now: number) {
    this.tokens = burst;
    this.at = now;
  }
  take(amount: number, now: number): boolean {
    const elapsed = now > this.at ? now - this.at : 0;
    this.at = now;
    this.tokens = Math.min(this.burst, this.tokens + elapsed * this.perMs);
    if (this.tokens < amount) return false;
    this.tokens -= amount;
    return true;
  }
}

/** A small seeded generator (mulberry32): the same sequence every run. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("TokenBucket refills once per reading of the clock, as its definition says", async (t) => {
  await t.step("takes that share a reading share what it refilled", () => {
    const bucket = new TokenBucket(1000, 2, 0);
    assert.equal(bucket.take(2, 0), true);
    assert.equal(bucket.take(1, 0), false, "the burst is spent");
    assert.equal(bucket.take(1, 1), true, "1 ms refilled one unit");
    assert.equal(
      bucket.take(1, 1),
      false,
      "the same reading refills nothing more",
    );
  });

  await t.step(
    "a reading that lagged is made up at the next: no time is lost",
    () => {
      const bucket = new TokenBucket(1, 10, 0);
      assert.equal(bucket.take(10, 0), true);
      for (let i = 0; i < 100; i++) assert.equal(bucket.take(1, 0), false);
      assert.equal(
        bucket.take(3, 3000),
        true,
        "3 s since the last reading: 3 units",
      );
      assert.equal(bucket.take(1, 3000), false);
    },
  );

  await t.step("a refused take takes nothing", () => {
    const bucket = new TokenBucket(1, 5, 0);
    assert.equal(bucket.take(6, 0), false);
    assert.equal(bucket.take(5, 0), true, "the 5 are all still there");
  });

  await t.step(
    "10,000 takes, readings repeated, late and stepping back, answer as the definition",
    () => {
      const random = seeded(23);
      for (const [rate, burst] of [[1000, 50], [3, 7], [2 ** 20, 2 ** 16]]) {
        const bucket = new TokenBucket(rate!, burst!, 1_000_000);
        const definition = new Definition(rate! / 1000, burst!, 1_000_000);
        let now = 1_000_000;
        for (let i = 0; i < 10_000; i++) {
          const roll = random();
          // Mostly the same reading (one turn's messages), else forward, at
          // times back (a wall clock can step back).
          if (roll > 0.97) now -= Math.floor(random() * 50);
          else if (roll > 0.6) now += Math.floor(random() * 20);
          const amount = random() < 0.5 ? 1 : Math.floor(random() * burst!);
          assert.equal(
            bucket.take(amount, now),
            definition.take(amount, now),
            `take ${i} of ${amount} at ${now} (rate ${rate}, burst ${burst})`,
          );
        }
      }
    },
  );
});
