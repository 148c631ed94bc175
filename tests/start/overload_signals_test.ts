/**
 * The overload watch's decisions without a network: what the samples must
 * show to make an incident, how strikes become refusals, and failing
 * visibly when the listener stays down.
 */
import assert from "node:assert/strict";
import {
  BUSY_HOLD_MS,
  BUSY_SHARE,
  CONNECTION_BYTES,
  OverloadSignals,
  type Sample,
} from "../../lib/start/overload_signals.ts";
import { SuspectList } from "../../lib/admission/suspects.ts";
import { OverloadWatch } from "../../lib/start/overload_watch.ts";
import { createApp } from "../../routes/app.ts";
import { parseConfig } from "../../lib/config.ts";
import { until } from "../_client.ts";

const MiB = 1024 * 1024;

function sample(at: number, fields: Partial<Sample> = {}): Sample {
  return {
    at,
    rssBytes: 100 * MiB,
    usedBytes: 0,
    delayMs: 0,
    messagesIn: 0,
    bytesIn: 0,
    ...fields,
  };
}

Deno.test("OverloadSignals: memory growth is an incident only when nothing accounts for it", async (t) => {
  const limits = { maxRssBytes: 400 * MiB, stallMs: 300 };
  await t.step("uncounted growth near the limit trips", () => {
    const signals = new OverloadSignals(limits);
    assert.equal(signals.add(sample(0, { rssBytes: 350 * MiB })), undefined);
    assert.equal(
      signals.add(sample(100, { rssBytes: 370 * MiB })),
      "uncounted_memory",
    );
  });
  await t.step("growth the connections account for does not", () => {
    const signals = new OverloadSignals(limits);
    signals.add(sample(0, { rssBytes: 300 * MiB, usedBytes: 0 }));
    const grown = sample(100, { rssBytes: 380 * MiB, usedBytes: 80 * MiB });
    assert.equal(signals.add(grown), undefined);
  });
  await t.step(
    "growth the connections opened meanwhile explain does not",
    () => {
      // 10,000 idle WebSockets opened: about 21 KiB each, nothing counted.
      const signals = new OverloadSignals(limits);
      signals.add(sample(0, { rssBytes: 200 * MiB, connectionChanges: 5000 }));
      const opened = sample(1000, {
        rssBytes: 300 * MiB,
        connectionChanges: 10_000,
      });
      assert.equal(signals.add(opened), undefined);
    },
  );
  await t.step("nor growth while they close (their garbage)", () => {
    const signals = new OverloadSignals(limits);
    signals.add(sample(0, { rssBytes: 200 * MiB, connectionChanges: 10_000 }));
    const closed = sample(1000, {
      rssBytes: 240 * MiB,
      connectionChanges: 20_000,
    });
    assert.equal(signals.add(closed), undefined);
  });
  await t.step("but growth beyond what they explain still trips", () => {
    const signals = new OverloadSignals(limits);
    signals.add(sample(0, { rssBytes: 200 * MiB, connectionChanges: 100 }));
    const explained = 100 * CONNECTION_BYTES;
    const grown = sample(1000, {
      rssBytes: 240 * MiB + explained,
      connectionChanges: 200,
    });
    assert.equal(signals.add(grown), "uncounted_memory");
  });
  await t.step(
    "steady RSS over the limit does not (memory kept by the allocator)",
    () => {
      const signals = new OverloadSignals(limits);
      for (let at = 0; at < 3000; at += 100) {
        assert.equal(
          signals.add(sample(at, { rssBytes: 420 * MiB })),
          undefined,
        );
      }
    },
  );
  await t.step("growth across a stall counts, however long the stall", () => {
    const signals = new OverloadSignals(limits);
    signals.add(sample(0, { rssBytes: 150 * MiB }));
    assert.equal(
      signals.add(sample(5000, { rssBytes: 260 * MiB })),
      "uncounted_memory",
    );
  });
  await t.step(
    "growth the payload moved within the window explains does not (large echoes)",
    () => {
      // 32 clients echoing 1 MiB messages: RSS grows by messages arriving
      // and the garbage of finished echoes, which the guard does not hold.
      const echoing = new OverloadSignals(limits);
      echoing.add(sample(0, { rssBytes: 200 * MiB, bytesIn: 0, bytesOut: 0 }));
      const grown = { rssBytes: 260 * MiB, bytesIn: 32 * MiB };
      assert.equal(
        echoing.add(sample(1000, { ...grown, bytesOut: 32 * MiB })),
        undefined,
      );
      // Workers' totals (`deno serve --parallel`) stand in for this worker's.
      const workers = new OverloadSignals(limits);
      workers.add(sample(0, { rssBytes: 200 * MiB, movedBytes: 0 }));
      assert.equal(
        workers.add(
          sample(1000, { rssBytes: 260 * MiB, movedBytes: 64 * MiB }),
        ),
        undefined,
      );
      // Fragments never complete a message: nothing moved, the same growth trips.
      const fragments = new OverloadSignals(limits);
      fragments.add(sample(0, { rssBytes: 200 * MiB }));
      assert.equal(
        fragments.add(sample(1000, { rssBytes: 260 * MiB })),
        "uncounted_memory",
      );
    },
  );
  await t.step(
    "without a recycle (deno serve: the action is exit) only growth near the limit trips",
    () => {
      const serve = new OverloadSignals({ ...limits, earlyTrip: false });
      serve.add(sample(0, { rssBytes: 200 * MiB }));
      assert.equal(serve.add(sample(100, { rssBytes: 300 * MiB })), undefined);
      assert.equal(
        serve.add(sample(200, { rssBytes: 370 * MiB })),
        "uncounted_memory",
      );
    },
  );
  await t.step("off when MAX_RSS_BYTES is 0", () => {
    const signals = new OverloadSignals({ maxRssBytes: 0, stallMs: 300 });
    signals.add(sample(0, { rssBytes: 150 * MiB }));
    assert.equal(signals.add(sample(100, { rssBytes: 9000 * MiB })), undefined);
  });
});

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
  await t.step("the same delays while connections are opened do not", () => {
    const signals = new OverloadSignals(limits);
    signals.add(sample(0));
    signals.add(sample(500, { delayMs: 400, requests: 20 }));
    assert.equal(
      signals.add(sample(1000, { delayMs: 400, requests: 40 })),
      undefined,
    );
  });
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
      ["requests", (at: number) => ({ requests: at / 50 })],
    ] as const
  ) {
    await t.step(`busy with ${what} flowing does not`, () => {
      const signals = new OverloadSignals(limits);
      assert.deepEqual(busyFor(signals, 5000, 1, flow), []);
    });
  }
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

Deno.test("SuspectList: an address is refused only when struck at incidents in a row", async (t) => {
  await t.step("two in a row: refused for 300 s, then doubled", () => {
    const suspects = new SuspectList();
    suspects.strike(["127.0.0.2"], 0);
    const [listed] = suspects.strike(["127.0.0.2"], 1000);
    assert.equal(listed!.refusedForSeconds, 300);
    assert.equal(suspects.refusedFor("127.0.0.2", 1000), 300);
    assert.equal(suspects.refusedFor("127.0.0.2", 301_001), 0);
    suspects.strike(["127.0.0.2"], 400_000);
    const [again] = suspects.strike(["127.0.0.2"], 401_000);
    assert.equal(again!.refusedForSeconds, 600);
  });
  await t.step("an incident without it in between starts again", () => {
    const suspects = new SuspectList();
    suspects.strike(["127.0.0.3"], 0);
    suspects.strike(["127.0.0.2"], 1000);
    const [struck] = suspects.strike(["127.0.0.3"], 2000);
    assert.equal(struck!.refusedForSeconds, 0);
    assert.equal(suspects.refusedFor("127.0.0.3", 2000), 0);
  });
});

Deno.test("OverloadWatch: a listener down past its bound turns /healthz 503, then exits with 1", async () => {
  const { fetch, services } = createApp(
    parseConfig({ MAX_RSS_BYTES: "0", EVENT_LOOP_STALL_MS: "0" }),
    { log: () => {} },
  );
  const exits: number[] = [];
  const watch = new OverloadWatch(services, {
    listenerDownLimitMs: 200,
    failExitDelayMs: 300,
    exit: (code) => exits.push(code),
  });
  try {
    services.listener = {
      accepting: false,
      acceptFailures: 1,
      recycles: 0,
      downSince: performance.now(),
    };
    await until(() => services.overload.status === "failing", "failing");
    const response = await fetch(new Request("http://localhost/healthz"));
    assert.equal(response.status, 503);
    assert.equal((await response.json()).status, "failing");
    assert.deepEqual(exits, []);
    await until(() => exits.length > 0, "the exit");
    assert.deepEqual(exits, [1]);
    assert.equal(services.overload.lastIncident?.cause, "listener_down");
    assert.equal(services.metrics.incidents.get("listener_down"), 1);
  } finally {
    watch.dispose();
    services.memory.dispose();
    services.registry.dispose();
  }
});
