/**
 * The start-up warning for a memory budget that holds few clients of the
 * largest message (lib/start/config_warnings.ts): the cost per client it
 * states is the one it divides by, and its advice can be followed.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config.ts";
import { configWarnings } from "../../lib/start/config_warnings.ts";

/** The one warning for these settings (listening on loopback, no proxy). */
function budgetWarning(env: Record<string, string>): string {
  const warnings = configWarnings(
    parseConfig({ BIND_ADDRESS: "127.0.0.1", ...env }),
    { denoDeploy: false },
  );
  assert.equal(warnings.length, 1, warnings.join("\n"));
  return warnings[0]!;
}

Deno.test("the budget warning states the cost per client it counts, and asks for MAX_RSS_BYTES only where it must rise", async (t) => {
  await t.step(
    "1 KiB messages cost their echo alone: not 'twice a message'",
    () => {
      const warning = budgetWarning({
        MAX_MESSAGE_BYTES: "1024",
        MEMORY_BUDGET_BYTES: "4096",
        MAX_RSS_BYTES: "0",
      });
      assert.match(warning, /holds 4 client\(s\)/);
      assert.match(warning, /\(1024 bytes each: its echo; /);
      assert.doesNotMatch(warning, /twice/);
      assert.match(warning, /raise MEMORY_BUDGET_BYTES to 8192, or lower/);
    },
  );
  await t.step("MAX_RSS_BYTES 0 (off) is not to be raised", () => {
    const warning = budgetWarning({
      MAX_MESSAGE_BYTES: "1024",
      MEMORY_BUDGET_BYTES: "4096",
      MAX_RSS_BYTES: "0",
    });
    assert.doesNotMatch(warning, /MAX_RSS_BYTES/);
  });
  await t.step(
    "32 MiB messages cost three times the message; MAX_RSS_BYTES at its default must rise past the budget advised",
    () => {
      const message = 32 * 1024 * 1024;
      const warning = budgetWarning({
        MAX_MESSAGE_BYTES: String(message),
        RATE_LIMIT_BYTE_BURST: String(message),
      });
      assert.match(
        warning,
        new RegExp(
          `\\(${
            3 * message
          } bytes each: Deno keeps twice a message it read, plus its echo\\)`,
        ),
      );
      assert.match(
        warning,
        new RegExp(
          `to ${
            8 * 3 * message
          } and MAX_RSS_BYTES above it \\(now 419430400\\)`,
        ),
      );
    },
  );
  await t.step(
    "MAX_RSS_BYTES already above the budget advised is left alone",
    () => {
      const warning = budgetWarning({
        MAX_MESSAGE_BYTES: "1024",
        MEMORY_BUDGET_BYTES: "4096",
        MAX_RSS_BYTES: "100000",
      });
      assert.doesNotMatch(warning, /MAX_RSS_BYTES/);
    },
  );
});
