/**
 * How the overload watch's strikes become refusals (`suspects.ts`, tries told
 * apart by `same_try.ts`), without a network.
 */
import assert from "node:assert/strict";
import { ABORTING_HOLD_MS, SuspectList } from "../../lib/admission/suspects.ts";
import {
  connectionId,
  SAME_INCIDENT_MS,
} from "../../lib/admission/same_try.ts";
import type { Activity } from "../../lib/admission/slots.ts";
import { admit } from "../../lib/admission/admit.ts";
import { DEFAULT_CONFIG } from "../../lib/config.ts";
import { attribute } from "../../lib/start/overload_attribution.ts";
import type {
  SuspectNews,
  SuspectPeers,
} from "../../lib/admission/suspect_peers.ts";

Deno.test("SuspectList: an address is refused when struck twice without being vouched for in between", async (t) => {
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
  await t.step(
    "vouched for in between (seen exchanging messages): starts again",
    () => {
      const suspects = new SuspectList();
      suspects.strike(["127.0.0.3"], 0);
      suspects.vouch(["127.0.0.3"], 1000);
      suspects.strike(["127.0.0.2"], 1000);
      const [struck] = suspects.strike(["127.0.0.3"], 2000);
      assert.equal(struck!.refusedForSeconds, 0);
      assert.equal(suspects.refusedFor("127.0.0.3", 2000), 0);
    },
  );
  await t.step(
    "two addresses taking turns: each refused at its second strike",
    () => {
      const suspects = new SuspectList();
      suspects.strike(["127.0.3.3"], 0);
      suspects.strike(["127.0.3.4"], 1500);
      const [third] = suspects.strike(["127.0.3.3"], 3000);
      const [fourth] = suspects.strike(["127.0.3.4"], 4500);
      assert.equal(third!.refusedForSeconds, 300);
      assert.equal(fourth!.refusedForSeconds, 300);
      assert.equal(suspects.state(4500).refused, 2);
    },
  );
});

type Workers = ReturnType<typeof twoWorkers>;

/**
 * Two workers' lists on a channel that delivers only when told, so a test
 * says which worker's news is heard first.
 */
function twoWorkers() {
  const queues: SuspectNews[][] = [[], []];
  const adopters: Array<(news: SuspectNews) => void> = [];
  const peers = (me: 0 | 1): SuspectPeers => ({
    publish: (news) => queues[1 - me]!.push(news),
    listen: (adopt) => adopters[me] = adopt,
    close() {},
  });
  const lists = [
    new SuspectList({ peers: peers(0) }),
    new SuspectList({ peers: peers(1) }),
  ] as const;
  return {
    echoing: lists[0],
    flooding: lists[1],
    /** Each worker hears what the other published. */
    deliver() {
      for (const me of [0, 1] as const) {
        for (const news of queues[me]!.splice(0)) adopters[me]!(news);
      }
    },
  };
}

Deno.test("deno serve: a vouch from one worker does not take back another worker's strike at the same incident", async (t) => {
  // An attacker keeps one echoing connection on one worker (vouched for
  // there) and floods from connections on another (struck there).
  const attacker = "127.0.4.4";
  const late = SAME_INCIDENT_MS / 2;
  await t.step(
    "the strike heard before the vouch: listed at the second incident",
    () => {
      const { echoing, flooding, deliver } = twoWorkers();
      for (const incident of [0, 60_000]) {
        const [strike] = flooding.strike([attacker], incident + late);
        echoing.vouch([attacker], incident);
        deliver();
        if (incident > 0) assert.equal(strike!.refusedForSeconds, 300);
      }
      assert.ok(echoing.refusedFor(attacker, 60_000 + late) > 0);
    },
  );
  await t.step(
    "the vouch heard before the strike: listed at the second incident",
    () => {
      const { echoing, flooding, deliver } = twoWorkers();
      for (const incident of [0, 60_000]) {
        echoing.vouch([attacker], incident);
        deliver();
        const [strike] = flooding.strike([attacker], incident + late);
        deliver();
        assert.equal(strike!.strikes, incident > 0 ? 0 : 1);
        if (incident > 0) assert.equal(strike!.refusedForSeconds, 300);
      }
      assert.ok(echoing.refusedFor(attacker, 60_000 + late) > 0);
    },
  );
  await t.step(
    "vouched for by another worker at another incident: vouched, and starts again",
    () => {
      const { echoing, flooding, deliver } = twoWorkers();
      flooding.strike([attacker], 0);
      deliver();
      echoing.vouch([attacker], 30_000);
      deliver();
      assert.equal(flooding.vouched(attacker, 30_000), true, "vouched there");
      const [strike] = flooding.strike([attacker], 60_000);
      assert.equal(strike!.refusedForSeconds, 0);
      assert.equal(strike!.strikes, 1);
    },
  );
});

Deno.test("deno serve: an address another worker struck at the same incident is not vouched for, on either worker", async (t) => {
  // attribute() takes a vouched address's silent connection for a
  // reconnect and spares it: a vouch that left the strike standing would
  // still spare the attacker's flooding connections at the next incident
  // (judged by timing, when the kernel's count does not cover them).
  const attacker = "127.0.4.5";
  const late = SAME_INCIDENT_MS / 2;
  const next = 60_000;
  const silent: Activity = {
    opened: true,
    startedAt: next - 30_000,
    messages: 0,
    bytesIn: 0,
    peer: undefined,
    sent: 0,
    lastMessageAt: next - 30_000,
    closingSince: undefined,
  };
  /** What the flooding worker strikes at the next incident, by timing. */
  const nextIncident = (flooding: SuspectList) =>
    flooding.strike(
      attribute([[silent, attacker]], {
        now: next,
        settledAt: next - 200,
        vouched: (key) => flooding.vouched(key, next),
      }).struck,
      next,
    );
  const firstIncident = {
    "the strike heard before the vouch": (workers: Workers) => {
      workers.flooding.strike([attacker], late);
      workers.echoing.vouch([attacker], 0);
      workers.deliver();
    },
    "the vouch heard before the strike": (workers: Workers) => {
      workers.echoing.vouch([attacker], 0);
      workers.deliver();
      workers.flooding.strike([attacker], late);
      workers.deliver();
    },
  };
  for (const [order, heard] of Object.entries(firstIncident)) {
    await t.step(
      `${order}: its silent connection is struck at the next incident, and it is listed`,
      () => {
        const workers = twoWorkers();
        heard(workers);
        const { echoing, flooding } = workers;
        assert.equal(flooding.vouched(attacker, late), false, "flooding");
        assert.equal(echoing.vouched(attacker, late), false, "echoing");
        const [strike] = nextIncident(flooding);
        assert.equal(strike?.refusedForSeconds, 300);
      },
    );
  }
});

Deno.test("deno serve: a client cut by one worker and struck by the other on its reconnect is on its next try", async (t) => {
  const attacker = "127.0.5.5";
  const soon = SAME_INCIDENT_MS / 2;
  await t.step(
    "its struck connection opened after the first strike: listed at the second",
    () => {
      const { echoing: first, flooding: second, deliver } = twoWorkers();
      first.strike([attacker], 0);
      deliver();
      const [strike] = second.strike([attacker], soon, {
        openedAt: new Map([[attacker, 5]]),
      });
      deliver();
      assert.equal(strike!.refusedForSeconds, 300);
      assert.equal(first.refusedFor(attacker, soon), 300);
    },
  );
  await t.step(
    "the other worker's strike heard after: listed there too",
    () => {
      const { echoing: first, flooding: second, deliver } = twoWorkers();
      first.strike([attacker], 0);
      deliver();
      second.strike([attacker], soon, { openedAt: new Map([[attacker, 5]]) });
      deliver();
      assert.ok(first.refusedFor(attacker, soon) > 0);
    },
  );
  await t.step(
    "open through the first strike (both workers tripped together): one incident",
    () => {
      const { echoing: first, flooding: second, deliver } = twoWorkers();
      first.strike([attacker], 0);
      deliver();
      const [strike] = second.strike([attacker], soon, {
        openedAt: new Map([[attacker, -5]]),
      });
      assert.equal(strike!.refusedForSeconds, 0);
      const other = twoWorkers();
      other.echoing.strike([attacker], 0);
      other.deliver();
      const [unknown] = other.flooding.strike([attacker], soon);
      assert.equal(unknown!.refusedForSeconds, 0, "time alone: one incident");
    },
  );
});

Deno.test("one try is one strike, whichever path cuts it: the kernel-count check's and the overload watch's", async (t) => {
  const attacker = "127.0.0.2";
  const network = "127.0.0.0/24";
  // One pong flooder's connection: opened at 0, its port 40000.
  const flooder = connectionId("127.0.0.2:40000", 0);
  const cut = (...ids: string[]) => new Map([[attacker, ids], [network, ids]]);
  // The check struck it and closed it 1009 at 5 s; the watch's incident
  // aborted it 3 s later, before the check's grace ended (load ~30).
  await t.step("the same connection cut twice: struck once, not listed", () => {
    const suspects = new SuspectList();
    suspects.strike([attacker, network], 5000, { connections: cut(flooder) });
    const [again] = suspects.strike([attacker], 8000, {
      openedAt: new Map([[attacker, 0]]),
      connections: cut(flooder),
    });
    assert.equal(again!.strikes, 1);
    assert.equal(again!.refusedForSeconds, 0);
    assert.equal(suspects.refusedFor(attacker, 8000), 0);
  });
  await t.step("its next connection, cut at the next incident: listed", () => {
    const suspects = new SuspectList();
    suspects.strike([attacker, network], 5000, { connections: cut(flooder) });
    const next = connectionId("127.0.0.2:40002", 9000);
    const [listed] = suspects.strike([attacker], 12_000, {
      connections: cut(next),
    });
    assert.equal(listed!.refusedForSeconds, 300);
  });
  await t.step(
    "its source port reused by a later connection: a new try, listed",
    () => {
      const suspects = new SuspectList();
      suspects.strike([attacker], 5000, { connections: cut(flooder) });
      const reused = connectionId("127.0.0.2:40000", 9000);
      const [listed] = suspects.strike([attacker], 12_000, {
        connections: cut(reused),
      });
      assert.equal(listed!.refusedForSeconds, 300);
    },
  );
  await t.step(
    "deno serve: the same connection struck by another worker, heard past SAME_INCIDENT_MS: once",
    () => {
      const { echoing: first, flooding: second, deliver } = twoWorkers();
      first.strike([attacker], 5000, { connections: cut(flooder) });
      deliver();
      const [again] = second.strike([attacker], 5000 + 3 * SAME_INCIDENT_MS, {
        connections: cut(flooder),
      });
      deliver();
      assert.equal(again!.refusedForSeconds, 0);
      assert.equal(first.refusedFor(attacker, 20_000), 0);
      assert.equal(second.refusedFor(attacker, 20_000), 0);
    },
  );
});

Deno.test("deno serve: a client a watchdog thread is aborting is refused at once where its strike will list it", async (t) => {
  const attacker = "127.0.6.6";
  const aborting = (at: number): SuspectNews => ({
    kind: "aborting",
    at,
    addresses: [attacker],
  });
  await t.step(
    "struck once before: refused with the listing's seconds until its worker's strike is heard",
    () => {
      const suspects = new SuspectList();
      suspects.strike([attacker], 0);
      suspects.adopt(aborting(60_000));
      assert.equal(suspects.refusedFor(attacker, 60_001), 300);
      assert.equal(suspects.state(60_001).refused, 0, "held, not listed");
      suspects.adopt({
        kind: "strike",
        at: 60_100,
        struck: [{ key: attacker }],
      });
      assert.equal(suspects.refusedFor(attacker, 60_200), 0, "not listed");
    },
  );
  await t.step("for ABORTING_HOLD_MS at most", () => {
    const suspects = new SuspectList();
    suspects.strike([attacker], 0);
    suspects.adopt(aborting(60_000));
    assert.equal(suspects.refusedFor(attacker, 60_000 + ABORTING_HOLD_MS), 0);
  });
  await t.step("never struck, or struck since: not refused", () => {
    const fresh = new SuspectList();
    fresh.adopt(aborting(60_000));
    assert.equal(fresh.refusedFor(attacker, 60_001), 0);
    const struck = new SuspectList();
    struck.strike([attacker], 0);
    struck.strike([attacker], 60_500);
    struck.adopt(aborting(60_000));
    struck.strike([attacker], 400_000);
    assert.equal(struck.refusedFor(attacker, 400_001), 0);
  });
  await t.step(
    "an address that is not its client's (a proxy's): not refused",
    () => {
      const suspects = new SuspectList({ keyOf: () => undefined });
      suspects.strike([attacker], 0);
      suspects.adopt(aborting(60_000));
      assert.equal(suspects.refusedFor(attacker, 60_001), 0);
    },
  );
});

Deno.test("admit() refuses a listed address 429 with Retry-After the seconds its listing has left", () => {
  const suspects = new SuspectList();
  // Listed 100 s ago for 300 s: 200 s left (201 if a millisecond turns).
  const listedAt = Date.now() - 100_000;
  suspects.strike(["127.0.7.7"], listedAt - 1000);
  suspects.strike(["127.0.7.7"], listedAt);
  const services = {
    config: DEFAULT_CONFIG,
    suspects,
  } as unknown as Parameters<typeof admit>[0];
  const answer = admit(services, {
    kind: "ws",
    path: "/echo",
    ip: "127.0.7.7",
    key: "127.0.7.7",
    origin: undefined,
  });
  assert.ok(!("release" in answer), "refused");
  assert.equal(answer.status, 429);
  assert.equal(answer.reason, "suspect");
  const retryAfter = Number(answer.headers["Retry-After"]);
  assert.ok(
    retryAfter >= 199 && retryAfter <= 200,
    `Retry-After ${retryAfter}`,
  );
});
