/**
 * Refusals are logged once at once per address and reason, then as one count
 * a second per cause; the table of addresses is bounded.
 *
 * @module
 */
import assert from "node:assert/strict";
import { RefusalLog } from "../../lib/admission/refusal_log.ts";
import type { LogRecord } from "../../lib/log.ts";
import { until } from "../_client.ts";

function refused(ip: string, fields: Partial<LogRecord> = {}) {
  return {
    event: "http_refused",
    ip,
    reason: "request_rate",
    status: 429,
    path: "/metrics",
    ...fields,
  };
}

Deno.test("RefusalLog logs an address's first refusal at once and the rest as a count", async (t) => {
  await t.step("1,000 refusals from one address: two lines", () => {
    const lines: LogRecord[] = [];
    const log = new RefusalLog((record) => lines.push(record));
    for (let i = 0; i < 1000; i++) log.refused(refused("203.0.113.7"));
    assert.equal(lines.length, 1);
    assert.deepEqual({ ...lines[0] }, refused("203.0.113.7"));
    log.dispose();
    assert.equal(lines.length, 2);
    assert.equal(lines[1]!.repeated, 999);
    assert.equal(lines[1]!.ip, "203.0.113.7");
    assert.equal(lines[1]!.path, "/metrics");
    assert.equal(typeof lines[1]!.intervalMs, "number");
  });
  await t.step(
    "another address, or another reason, is logged at once too",
    () => {
      const lines: LogRecord[] = [];
      const log = new RefusalLog((record) => lines.push(record));
      log.refused(refused("203.0.113.7"));
      log.refused(refused("203.0.113.8"));
      log.refused(refused("203.0.113.7", { reason: "origin", status: 403 }));
      log.refused(refused("203.0.113.7", { event: "ws_refused" }));
      assert.equal(lines.length, 4);
      log.dispose();
      assert.equal(lines.length, 4, "nothing repeated, no count");
    },
  );
  await t.step("a count over many paths names none", () => {
    const lines: LogRecord[] = [];
    const log = new RefusalLog((record) => lines.push(record));
    for (const path of ["/", "/a", "/b"]) {
      log.refused(refused("203.0.113.7", { path }));
    }
    log.dispose();
    assert.equal(lines[1]!.repeated, 2);
    assert.equal(lines[1]!.path, undefined);
  });
  await t.step(
    "a crowd refused again and again: each address once at once, then one count line for all",
    () => {
      const lines: LogRecord[] = [];
      const log = new RefusalLog((record) => lines.push(record));
      for (let round = 0; round < 5; round++) {
        for (let i = 1; i <= 200; i++) {
          log.refused(
            refused(`198.51.${i}.5`, {
              event: "ws_refused",
              reason: "total",
              status: 503,
              path: "/echo",
            }),
          );
        }
      }
      assert.equal(lines.length, 200, "each address's first at once");
      log.dispose();
      assert.equal(lines.length, 201);
      assert.deepEqual({ ...lines[200] }, {
        event: "ws_refused",
        ip: undefined,
        reason: "total",
        status: 503,
        path: "/echo",
        repeated: 800,
        intervalMs: lines[200]!.intervalMs,
      });
    },
  );
  await t.step(
    "the count comes within the interval; an address quiet for forgetMs is logged at once again",
    async () => {
      const lines: LogRecord[] = [];
      const log = new RefusalLog((record) => lines.push(record), {
        intervalMs: 10,
        forgetMs: 30,
      });
      log.refused(refused("203.0.113.7"));
      log.refused(refused("203.0.113.7"));
      await until(() => lines.length === 2, "the count line");
      assert.equal(lines[1]!.repeated, 1);
      await until(() => log.size === 0, "the quiet address forgotten");
      log.refused(refused("203.0.113.7"));
      assert.equal(lines.length, 3);
      assert.equal(lines[2]!.repeated, undefined, "logged at once");
      log.dispose();
    },
  );
});

Deno.test("RefusalLog keeps its table bounded: the addresses past it are only counted, by cause", () => {
  const lines: LogRecord[] = [];
  const log = new RefusalLog((record) => lines.push(record), {
    maxAddresses: 2,
  });
  for (let i = 1; i <= 100; i++) log.refused(refused(`198.51.100.${i}`));
  assert.equal(log.size, 2);
  assert.equal(lines.length, 2, "the two tracked at once");
  log.dispose();
  assert.equal(lines.length, 3);
  assert.equal(lines[2]!.ip, undefined);
  assert.equal(lines[2]!.repeated, 98);
  assert.equal(lines[2]!.reason, "request_rate");
});
