/**
 * The catalogues, one per outcome a client can meet (a limit, a refusal, a
 * metric), agree with what the service says about them elsewhere: `/limits`,
 * the close reasons' size, `/metrics` and OpenTelemetry.
 *
 * @module
 */
import assert from "node:assert/strict";
import { DEFAULT_CONFIG, type Setting, SETTINGS } from "../lib/config.ts";
import { describeLimits } from "../lib/http/limits_report.ts";
import { limitClose, type LimitReason, LIMITS } from "../lib/limits.ts";
import { Metrics } from "../lib/metrics.ts";
import { METRICS, prometheusText } from "../lib/metric_catalogue.ts";
import { MAX_CLOSE_REASON_BYTES } from "../lib/protocol/close_codes.ts";
import { utf8ByteLength } from "../lib/protocol/utf8.ts";
import { REFUSALS } from "../lib/refusals.ts";
import { INSTRUMENTS } from "../lib/telemetry.ts";

const LIMIT_REASONS = Object.keys(LIMITS) as LimitReason[];

Deno.test("each limit's /limits text names the close its catalogue row sends", async (t) => {
  const limits = Object.values(describeLimits(DEFAULT_CONFIG));
  for (const reason of LIMIT_REASONS) {
    await t.step(reason, () => {
      const { setting } = LIMITS[reason];
      const described = limits.find((limit) => limit?.env === setting);
      assert.ok(described, `/limits lists ${setting}`);
      const close = limitClose(reason, DEFAULT_CONFIG);
      assert.ok(
        described.breach.includes(String(close.code)),
        `${setting}'s text names ${close.code}`,
      );
      // The whole reason, its figure written N: "limit is N bytes".
      const words = close.reason.replaceAll(/\d+/g, "N");
      assert.ok(
        described.breach.includes(`"${words}"`),
        `${setting}'s text quotes "${words}"`,
      );
    });
  }
});

Deno.test("every limit's close reason fits a close frame, even at the largest settings", () => {
  const largest = { ...DEFAULT_CONFIG };
  for (const name of Object.keys(SETTINGS) as (keyof typeof SETTINGS)[]) {
    const setting: Setting = SETTINGS[name];
    const key = setting.key as keyof typeof largest;
    if (typeof largest[key] === "number") {
      (largest as Record<string, unknown>)[key] = Number.MAX_SAFE_INTEGER;
    }
  }
  for (const reason of LIMIT_REASONS) {
    const { code, reason: text } = limitClose(reason, largest);
    assert.ok(code === 1000 || code >= 1008, `${reason}: ${code}`);
    assert.ok(utf8ByteLength(text) <= MAX_CLOSE_REASON_BYTES, reason);
  }
});

Deno.test("a limit that keeps the slot is one whose socket Deno cannot free: slow reader and shedding", () => {
  assert.deepEqual(
    LIMIT_REASONS.filter((reason) => LIMITS[reason].keepsSlot),
    ["slow_reader", "memory_budget", "rss"],
  );
});

/**
 * The refusals of a full, overloaded or stopping server: retrying later can
 * succeed, so each says when. `rooms_off` (MAX_ROOMS=0) is a 503 too, but
 * no retry will find rooms turned on.
 */
const SAYS_WHEN_TO_RETRY = new Set([
  "per_ip",
  "total",
  "overloaded",
  "suspect",
  "request_rate",
  "shutting_down",
  "files_unavailable",
  "room_full",
  "rooms_full",
]);

Deno.test("every refusal is a 4xx or 503, and a full or stopping server says when to retry", () => {
  for (const [reason, row] of Object.entries(REFUSALS)) {
    // status= asks for any status, and retry_after= for the header.
    if (row.status === "asked") continue;
    assert.ok(row.status >= 400 && row.status < 500 || row.status === 503);
    assert.equal(
      "Retry-After" in row.headers,
      SAYS_WHEN_TO_RETRY.has(reason),
      reason,
    );
    if (SAYS_WHEN_TO_RETRY.has(reason)) {
      assert.ok(row.status === 429 || row.status === 503, reason);
    }
  }
});

Deno.test("/metrics and OpenTelemetry are written from the one metric catalogue", async (t) => {
  // The descriptor gauges are known only with --allow-all: here, known.
  const metrics = Object.assign(new Metrics(), {
    descriptorsOpen: 30,
    descriptorLimit: 1024,
  });
  const text = prometheusText(metrics, {
    listener: { acceptFailures: 0, listenFailures: 0 },
    memory: {
      usedBytes: 0,
      budgetBytes: 0,
      rssBytes: 0,
      maxRssBytes: 0,
      shedding: null,
      refusing: null,
      shed: { memory_budget: 0, rss: 0 },
    },
    rooms: {
      rooms: 0,
      members: 0,
      bridge: {
        kind: "redis",
        connected: false,
        published: 0,
        received: 0,
        dropped: 0,
        lost: 0,
      },
    },
  });
  await t.step("every row is a /metrics series with its help and type", () => {
    for (const row of METRICS) {
      const name = `ws_echo_${row.name}`;
      assert.ok(text.includes(`# HELP ${name} ${row.help}\n`), name);
      assert.ok(text.includes(`# TYPE ${name} ${row.type}\n`), name);
    }
  });
  await t.step("without a bridge, no bridge series (not a 0)", () => {
    const alone = prometheusText(new Metrics(), {
      rooms: { rooms: 0, members: 0, bridge: null },
    });
    assert.ok(alone.includes("ws_echo_room_members 0\n"));
    assert.ok(!alone.includes("ws_echo_room_bridge_connected"));
  });
  await t.step(
    "every instrument but the duration is a row, with its help",
    () => {
      for (const instrument of INSTRUMENTS) {
        if (instrument.kind === "histogram") continue;
        const row = METRICS.find((row) => row.otel?.name === instrument.name);
        assert.ok(row, instrument.name);
        assert.equal(instrument.description, row.help);
        assert.equal(instrument.prometheus, `ws_echo_${row.name}`);
      }
    },
  );
});
