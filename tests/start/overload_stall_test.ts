/**
 * The overload watch's event-loop detectors without a network: a late or
 * busy loop is a stall only while nothing flows, and only when the process
 * itself used the CPU (not a loaded machine or a paused host).
 */
import assert from "node:assert/strict";
import {
  BUSY_HOLD_MS,
  BUSY_SHARE,
  OverloadSignals,
  type Sample,
} from "../../lib/start/overload_signals.ts";
import { MiB, sample } from "./_samples.ts";

Deno.test("OverloadSignals: a late event loop is a stall only while messages do not flow", async (t) => {
  const limits = { maxRssBytes: 0, stallMs: 300 };
  await t.step("a second of late timers with no messages trips", () => {
    const signals = new OverloadSignals(limits);
    signals.add(sample(0));
    assert.equal(signals.add(sample(500, { delayMs: 400 })), undefined);
    assert.equal(
      signals.add(sample(1000, { delayMs: 400 })),
      "event_loop_stall",
    );
  });
  await t.step(
    "one very late timer covering a second trips (a pong flood)",
    () => {
      const signals = new OverloadSignals(limits);
      signals.add(sample(0));
      assert.equal(
        signals.add(sample(1300, { delayMs: 1200 })),
        "event_loop_stall",
      );
    },
  );
  await t.step(
    "a timer late by a pause of the process (no CPU used) does not, nor the busy rule after it",
    () => {
      // SIGSTOP for 1.5 s, twice, 3 s apart: a host's pause, not a flood.
      const signals = new OverloadSignals(limits);
      let cpuMs = 0;
      let at = 0;
      signals.add(sample(at, { cpuMs }));
      for (let pause = 0; pause < 2; pause++) {
        at += 1600;
        cpuMs += 1;
        assert.equal(
          signals.add(sample(at, { delayMs: 1500, cpuMs })),
          undefined,
        );
        for (let turn = 0; turn < 30; turn++) {
          at += 100;
          cpuMs += 0.5;
          assert.equal(
            signals.add(sample(at, { delayMs: 2, cpuMs })),
            undefined,
          );
        }
      }
    },
  );
  await t.step(
    "the same late timer while the process burnt the CPU trips",
    () => {
      const signals = new OverloadSignals(limits);
      signals.add(sample(0, { cpuMs: 0 }));
      assert.equal(
        signals.add(sample(1600, { delayMs: 1500, cpuMs: 800 })),
        "event_loop_stall",
      );
    },
  );
  await t.step("the same delays with messages flowing do not", () => {
    const signals = new OverloadSignals(limits);
    signals.add(sample(0));
    signals.add(sample(500, { delayMs: 400, messagesIn: 5000 }));
    assert.equal(
      signals.add(sample(1000, { delayMs: 400, messagesIn: 10_000 })),
      undefined,
    );
  });
  await t.step(
    "the same delays while plain requests are answered do not",
    () => {
      const signals = new OverloadSignals(limits);
      signals.add(sample(0));
      signals.add(sample(500, { delayMs: 400, plainRequests: 20 }));
      assert.equal(
        signals.add(sample(1000, { delayMs: 400, plainRequests: 40 })),
        undefined,
      );
    },
  );
  await t.step(
    "the same delays while connections are opened trip, unless the kernel's count cannot be read",
    () => {
      const upgrades = (signals: OverloadSignals) => {
        signals.add(sample(0));
        signals.add(sample(500, { delayMs: 400, requests: 20 }));
        return signals.add(sample(1000, { delayMs: 400, requests: 40 }));
      };
      assert.equal(upgrades(new OverloadSignals(limits)), "event_loop_stall");
      assert.equal(
        upgrades(new OverloadSignals({ ...limits, upgradesFlow: true })),
        undefined,
      );
    },
  );
  await t.step("a prompt timer ends the stretch", () => {
    const signals = new OverloadSignals(limits);
    signals.add(sample(0));
    signals.add(sample(500, { delayMs: 400 }));
    signals.add(sample(600, { delayMs: 0 }));
    assert.equal(signals.add(sample(1100, { delayMs: 400 })), undefined);
  });
  await t.step("the same delays while messages go out do not", () => {
    // A room's fan-out, `/stream` readers: the loop is late with work.
    const signals = new OverloadSignals(limits);
    signals.add(sample(0));
    signals.add(sample(500, { delayMs: 400, messagesOut: 5000 }));
    assert.equal(
      signals.add(sample(1000, { delayMs: 400, messagesOut: 10_000 })),
      undefined,
    );
  });
  await t.step("nor while bytes go out", () => {
    const signals = new OverloadSignals(limits);
    signals.add(sample(0));
    signals.add(sample(500, { delayMs: 400, bytesOut: 4 * MiB }));
    assert.equal(
      signals.add(sample(1000, { delayMs: 400, bytesOut: 8 * MiB })),
      undefined,
    );
  });
  await t.step("off when EVENT_LOOP_STALL_MS is 0", () => {
    const signals = new OverloadSignals({ maxRssBytes: 0, stallMs: 0 });
    signals.add(sample(0));
    assert.equal(signals.add(sample(5000, { delayMs: 4900 })), undefined);
  });
});

/** Samples every 100 ms for `ms`, the CPU used at `share` of a core. */
function busyFor(
  signals: OverloadSignals,
  ms: number,
  share: number,
  flow: (at: number) => Partial<Sample> = () => ({}),
) {
  const causes = [];
  for (let at = 0; at <= ms; at += 100) {
    causes.push(signals.add(sample(at, { cpuMs: at * share, ...flow(at) })));
  }
  return causes.filter((cause) => cause !== undefined);
}

Deno.test("OverloadSignals: a prompt loop that burns the CPU while nothing flows is a stall", async (t) => {
  const limits = { maxRssBytes: 0, stallMs: 300 };
  await t.step(
    `${
      BUSY_SHARE * 100
    }% of a core for ${BUSY_HOLD_MS} ms trips (a pong flood the server keeps up with)`,
    () => {
      const signals = new OverloadSignals(limits);
      assert.deepEqual(busyFor(signals, BUSY_HOLD_MS, 0.6), [
        "event_loop_stall",
      ]);
      assert.equal(signals.cpuShare, 0.6);
    },
  );
  await t.step(
    "little CPU but timers waiting for it trips (the same flood on a loaded machine)",
    () => {
      const signals = new OverloadSignals(limits);
      const causes = [];
      for (let at = 0; at <= BUSY_HOLD_MS; at += 200) {
        causes.push(
          signals.add(
            // Load average 15 on 2 cores: a fair share of 13% of a core.
            sample(at, {
              cpuMs: at * 0.15,
              delayMs: at ? 100 : 0,
              fairShare: 2 / 15,
            }),
          ),
        );
      }
      assert.deepEqual(causes.filter(Boolean), ["event_loop_stall"]);
    },
  );
  await t.step("not before the hold has passed", () => {
    const signals = new OverloadSignals(limits);
    assert.deepEqual(busyFor(signals, BUSY_HOLD_MS - 100, 1), []);
  });
  await t.step("an idle process does not, on a loaded machine either", () => {
    const signals = new OverloadSignals(limits);
    assert.deepEqual(busyFor(signals, 5000, 0.04, () => ({ delayMs: 14 })), []);
  });
  for (
    const [what, flow] of [
      ["messages received", (at: number) => ({ messagesIn: at })],
      ["messages sent", (at: number) => ({ messagesOut: at })],
      ["bytes sent", (at: number) => ({ bytesOut: at * 2048 })],
      ["plain requests", (at: number) => ({ plainRequests: at / 50 })],
    ] as const
  ) {
    await t.step(`busy with ${what} flowing does not`, () => {
      const signals = new OverloadSignals(limits);
      assert.deepEqual(busyFor(signals, 5000, 1, flow), []);
    });
  }
  await t.step(
    "busy while connections open and close and nothing else flows trips (a flood split across fresh connections)",
    () => {
      // 100 upgrades a second, each bringing 1.5 MiB of empty frames (load
      // average 4): upgrades bring no message, so they are no flow.
      const signals = new OverloadSignals(limits);
      const causes = busyFor(signals, 5000, 1, (at) => ({
        requests: at / 10,
        connectionChanges: at / 5,
      }));
      assert.deepEqual(causes.slice(0, 1), ["event_loop_stall"]);
    },
  );
  await t.step("off when EVENT_LOOP_STALL_MS is 0", () => {
    const signals = new OverloadSignals({ maxRssBytes: 0, stallMs: 0 });
    assert.deepEqual(busyFor(signals, 5000, 1), []);
  });
});

Deno.test("OverloadSignals: timers late because the machine is loaded are no stall", async (t) => {
  const limits = { maxRssBytes: 0, stallMs: 300 };
  /** Samples 400 ms apart, each 300 ms late, burning `share` of a core. */
  const loaded = (share: number, fairShare: number | undefined) => {
    const signals = new OverloadSignals(limits);
    const causes = [];
    for (let at = 0; at <= 4000; at += 400) {
      causes.push(
        signals.add(
          sample(at, { delayMs: at ? 300 : 0, cpuMs: at * share, fairShare }),
        ),
      );
    }
    return causes.filter(Boolean);
  };
  // Load average 33 on 2 cores: a fair share of 6% of a core.
  await t.step("an idle process (1% of a core) is not struck by load", () => {
    assert.deepEqual(loaded(0.01, 2 / 33), []);
  });
  await t.step("a flooded one burning its fair share is", () => {
    assert.deepEqual(loaded(0.05, 2 / 33).slice(0, 1), ["event_loop_stall"]);
  });
  await t.step(
    "without a load figure a late loop burning OWN_CPU.floor or more decides",
    () => {
      assert.deepEqual(loaded(0.05, undefined).slice(0, 1), [
        "event_loop_stall",
      ]);
      // 1% of a core is under OWN_CPU.floor: the host, not the process.
      assert.deepEqual(loaded(0.01, undefined), []);
    },
  );
});
