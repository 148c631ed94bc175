import assert from "node:assert/strict";
import {
  compare,
  type Figure,
  pairOrder,
  pairRatios,
} from "../bench/run/figures.ts";

const RATE: Figure = {
  key: "rate",
  label: "Rate",
  unit: "msg/s",
  better: "higher",
  target: 0.95,
};

Deno.test("bench ratios are the median of per-pair ratios", async (t) => {
  await t.step("a pair is the i-th value of each target", () => {
    assert.deepEqual(pairRatios([100, 200, 50], [95, 210, 50]), [
      0.95,
      1.05,
      1,
    ]);
  });

  await t.step("one disturbed pair does not move the ratio", () => {
    // The machine's speed drifts from pair to pair; within each pair the
    // service runs at 0.96 of the reference, except the fourth, where the
    // machine slowed down between its two halves. The medians' ratio (96 /
    // 110 = 0.87) reads that one pair, the median of the pairs does not.
    const [row] = compare([RATE], {
      rate: {
        reference: [100, 120, 110, 130, 90],
        service: [96, 115.2, 105.6, 62.4, 86.4],
      },
    });
    assert.ok(row);
    assert.equal(row.ratio.toFixed(4), "0.9600");
    assert.equal(row.ratioMin.toFixed(2), "0.48");
    assert.equal(row.pairs, 5);
    assert.equal(row.met, "met");
    assert.equal(row.reference, 110, "the reference's median is kept");
    assert.equal(row.service, 96, "the service's median is kept");
  });

  await t.step("median and min-max of the pairs, not of the medians", () => {
    const [row] = compare([RATE], {
      rate: { reference: [100, 200, 120], service: [110, 150, 100] },
    });
    assert.ok(row);
    // Pairs 1.1, 0.75, 0.833: median 0.833, where 110 / 120 is 0.917.
    assert.equal(row.ratio.toFixed(3), "0.833");
    assert.equal(row.ratioMin, 0.75);
    assert.equal(row.ratioMax, 1.1);
    assert.equal(row.met, "**missed**");
    assert.match(row.line, /\| 0\.83 \(0\.75–1\.10, 3\) \| ≥ 0\.95 \|/);
  });

  await t.step("a lower-is-better target compares the same median", () => {
    const [row] = compare([{ ...RATE, better: "lower", target: 1.1 }], {
      rate: { reference: [70, 90, 80, 75], service: [77, 99, 80, 90] },
    });
    assert.ok(row);
    // Pairs 1.1, 1.1, 1.0, 1.2: median 1.1.
    assert.equal(row.ratio.toFixed(2), "1.10");
    assert.equal(row.met, "met");
  });

  await t.step("a reference of 0 gives no ratio, and no verdict", () => {
    const [row] = compare([{
      key: "rate",
      label: "CPU",
      unit: "ms/s",
      better: "info",
    }], {
      rate: { reference: [0, 0], service: [8.6, 9.1] },
    });
    assert.ok(row);
    assert.equal(row.pairs, 0);
    assert.match(row.line, /\| – \| – \|/);
    const [guarded] = compare([RATE], {
      rate: { reference: [0], service: [1] },
    });
    assert.equal(guarded?.met, "", "no pair, no met or missed");
  });

  await t.step("unequal counts are refused: the pairs are unknown", () => {
    assert.throws(
      () => pairRatios([1, 2], [1]),
      (error: Error) =>
        error instanceof RangeError &&
        error.message ===
          "Cannot pair 2 reference values with 1 service values: expected as many of each",
    );
  });

  await t.step("the order alternates from pair to pair", () => {
    const firsts = [0, 1, 2, 3].map((index) => pairOrder(index)[0]);
    assert.deepEqual(firsts, ["reference", "service", "reference", "service"]);
    assert.deepEqual(
      [...pairOrder(1)].sort(),
      ["reference", "service"],
      "each pair has both",
    );
  });
});
