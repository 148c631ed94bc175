/**
 * The charts' words and tick labels (static/charts.js), without a browser:
 * a chart of two echoes read "1 1 1 1 1 2 2 2" along its axis and gave the
 * larger of two round trips as their median.
 */
import assert from "node:assert/strict";
import { median, tickLabels } from "../../static/charts.js";
import { formatNumber } from "../../static/format.js";

const label = (value: number, digits: number) =>
  formatNumber(value, "en", digits);

Deno.test("tick labels carry the decimals their step needs, so no two read alike", async (t) => {
  await t.step("ticks 0.1 apart", () => {
    assert.deepEqual(tickLabels([1, 1.1, 1.2, 1.3], label), [
      "1",
      "1.1",
      "1.2",
      "1.3",
    ]);
  });
  await t.step("ticks 0.5 apart", () => {
    assert.deepEqual(tickLabels([12, 12.5, 13, 13.5], label), [
      "12",
      "12.5",
      "13",
      "13.5",
    ]);
  });
  await t.step("ticks 0.25 apart keep two decimals", () => {
    assert.deepEqual(tickLabels([0, 0.25, 0.5], label), ["0", "0.25", "0.5"]);
  });
  await t.step("whole steps stay whole, grouped", () => {
    assert.deepEqual(tickLabels([0, 2000, 4000], label), [
      "0",
      "2,000",
      "4,000",
    ]);
  });
});

Deno.test("the median of an even count is the mean of the middle two", () => {
  assert.equal(median([17, 34]), 25.5);
  assert.equal(median([1, 2, 3]), 2);
  assert.equal(median([5]), 5);
});
