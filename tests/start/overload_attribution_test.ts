/**
 * Who the overload watch strikes at an incident by timing, without a
 * network (the kernel's count comes first where the OS can tell:
 * `overload_kernel_attribution_test.ts`): the silent connection that has
 * had a turn of the event loop unless an earlier incident vouched for its
 * address, the young one only when its address is vouched for by nothing,
 * never a connection exchanging messages since the trouble began (a
 * listen-only `/stream` reader or room member included) nor a silent one
 * open since before the trouble began, and the close left unanswered.
 */
import assert from "node:assert/strict";
import {
  attribute,
  CLOSE_ANSWER_MS,
  FLOW_SLACK_MS,
} from "../../lib/start/overload_attribution.ts";
import type { Activity } from "../../lib/admission/slots.ts";
import { SuspectList } from "../../lib/admission/suspects.ts";

const NOW = 100_000;
/** The sample before the incident's: older connections had a turn. */
const SETTLED = NOW - 200;

function activity(fields: Partial<Activity> = {}): Activity {
  return {
    opened: true,
    startedAt: NOW - 60_000,
    messages: 0,
    bytesIn: 0,
    peer: undefined,
    sent: 0,
    lastMessageAt: NOW - 60_000,
    closingSince: undefined,
    ...fields,
  };
}

/** What attribute() found, without the kernel's part. */
function judged(found: ReturnType<typeof attribute>) {
  return { struck: found.struck, vouched: found.vouched };
}

const clock = (vouched: string[] = []) => ({
  now: NOW,
  settledAt: SETTLED,
  vouched: (key: string) => vouched.includes(key),
});

Deno.test("attribute() strikes the silent and never a connection exchanging messages", async (t) => {
  await t.step(
    "an old connection that neither sent nor was sent anything",
    () => {
      const found = attribute([[activity(), "127.0.0.2"]], clock());
      assert.deepEqual(found.struck, ["127.0.0.2"]);
      assert.deepEqual(found.vouched, []);
    },
  );
  await t.step(
    "a listen-only member of a quiet room is judged like anyone: struck when silent and not there before the trouble",
    () => {
      const found = attribute(
        [[activity(), "127.0.0.5"]],
        clock(),
      );
      assert.deepEqual(judged(found), { struck: ["127.0.0.5"], vouched: [] });
    },
  );
  await t.step(
    "a listen-only member of a quiet room connected before the calm stretch is spared",
    () => {
      const found = attribute(
        [[activity(), "127.0.0.5"]],
        { ...clock(), calmSince: NOW - 10_000 },
      );
      assert.deepEqual(judged(found), { struck: [], vouched: ["127.0.0.5"] });
    },
  );
  await t.step("an echoing client is vouched for, not struck", () => {
    const found = attribute(
      [[activity({ messages: 3, sent: 3 }), "127.0.0.3"]],
      clock(),
    );
    assert.deepEqual(judged(found), { struck: [], vouched: ["127.0.0.3"] });
  });
  await t.step(
    "a listen-only client (/stream reader, room member) is not struck",
    () => {
      const found = attribute(
        [[activity({ messages: 0, sent: 40 }), "127.0.0.4"]],
        clock(),
      );
      assert.deepEqual(judged(found), { struck: [], vouched: ["127.0.0.4"] });
    },
  );
  await t.step("a connection with no activity (/sse) is never judged", () => {
    assert.deepEqual(judged(attribute([[undefined, "127.0.0.5"]], clock())), {
      struck: [],
      vouched: [],
    });
  });
});

Deno.test("attribute() judges a connection opened since the last turn by its address", async (t) => {
  const young = activity({ startedAt: SETTLED + 50 });
  await t.step("struck when nothing vouches for its address", () => {
    // The attacker on a quiet machine: the loop held from its upgrade on.
    assert.deepEqual(
      attribute([[young, "127.0.0.2"]], clock()).struck,
      ["127.0.0.2"],
    );
  });
  await t.step("spared when an earlier incident vouched for it", () => {
    // A bystander that reconnected just before a held stretch.
    assert.deepEqual(
      attribute([[young, "127.0.0.3"]], clock(["127.0.0.3"])).struck,
      [],
    );
  });
  await t.step("spared when another of its connections flows now", () => {
    const found = attribute(
      [[young, "127.0.0.3"], [activity({ messages: 1 }), "127.0.0.3"]],
      clock(),
    );
    assert.deepEqual(found.struck, []);
  });
  await t.step(
    "an old silent connection is spared when an earlier incident vouched for its address (a listener reconnected after a recycle)",
    () => {
      assert.deepEqual(
        attribute([[activity(), "127.0.0.3"]], clock(["127.0.0.3"])).struck,
        [],
      );
    },
  );
  await t.step(
    "an old silent connection is struck even when another of its address's flows now",
    () => {
      const found = attribute(
        [[activity(), "127.0.0.2"], [activity({ messages: 1 }), "127.0.0.2"]],
        clock(),
      );
      assert.deepEqual(found.struck, ["127.0.0.2"]);
    },
  );
});

Deno.test("attribute() spares a silent connection that was there before the trouble began", async (t) => {
  /** The latest calm stretch began 10 s ago. */
  const CALM = NOW - 10_000;
  const calmClock = (vouched: string[] = []) => ({
    ...clock(vouched),
    calmSince: CALM,
  });
  const idle = activity({ startedAt: CALM - 60_000 });
  await t.step(
    "open through a calm stretch: not struck, and vouched for",
    () => {
      // A listen-only client waiting for a close; the attacker came later.
      const found = attribute(
        [[idle, "127.0.0.5"], [activity({ startedAt: CALM + 1 }), "127.0.0.2"]],
        calmClock(),
      );
      assert.deepEqual(judged(found), {
        struck: ["127.0.0.2"],
        vouched: ["127.0.0.5"],
      });
    },
  );
  await t.step(
    "not vouched for when another of its address's connections is struck (an attacker idling one connection)",
    () => {
      const found = attribute(
        [[idle, "127.0.0.2"], [activity({ startedAt: CALM + 1 }), "127.0.0.2"]],
        calmClock(),
      );
      assert.deepEqual(judged(found), { struck: ["127.0.0.2"], vouched: [] });
    },
  );
  await t.step("a close unanswered is struck however old", () => {
    const closing = activity({
      startedAt: CALM - 60_000,
      closingSince: NOW - CLOSE_ANSWER_MS - 1,
    });
    assert.deepEqual(attribute([[closing, "127.0.0.2"]], calmClock()).struck, [
      "127.0.0.2",
    ]);
  });
  await t.step("without a calm stretch, as before", () => {
    assert.deepEqual(attribute([[idle, "127.0.0.5"]], clock()).struck, [
      "127.0.0.5",
    ]);
  });
});

Deno.test("attribute() strikes a close the client has not answered", async (t) => {
  await t.step(`after ${CLOSE_ANSWER_MS} ms, whatever it sent`, () => {
    const closing = activity({
      messages: 1,
      sent: 1,
      closingSince: NOW - CLOSE_ANSWER_MS - 1,
    });
    assert.deepEqual(
      attribute([[closing, "127.0.0.2"]], clock(["127.0.0.2"])).struck,
      ["127.0.0.2"],
    );
  });
  await t.step(
    "sooner only when nothing else vouches for the address (sent Goodbye, then fragments)",
    () => {
      const closing = activity({ messages: 1, sent: 1, closingSince: NOW - 5 });
      assert.deepEqual(attribute([[closing, "127.0.0.2"]], clock()).struck, [
        "127.0.0.2",
      ]);
      assert.deepEqual(
        attribute([[closing, "127.0.0.3"]], clock(["127.0.0.3"])).struck,
        [],
      );
    },
  );
  await t.step("a closing connection vouches for nothing", () => {
    const closing = activity({ messages: 9, sent: 9, closingSince: NOW - 5 });
    assert.deepEqual(attribute([[closing, "127.0.0.2"]], clock()).vouched, []);
  });
});

Deno.test("SuspectList.vouch() remembers an address for VOUCH_MEMORY_MS", () => {
  const suspects = new SuspectList();
  suspects.vouch(["127.0.0.3"], 0);
  assert.equal(suspects.vouched("127.0.0.3", 60_000), true);
  assert.equal(suspects.vouched("127.0.0.2", 60_000), false);
  assert.equal(suspects.vouched("127.0.0.3", 11 * 60_000), false);
});

Deno.test("attribute() counts as flow only a message since the trouble began", async (t) => {
  /** The latest calm stretch began 10 s ago, the trouble 1 s ago. */
  const CALM = NOW - 10_000;
  const TROUBLE = NOW - 1000;
  const troubled = { ...clock(), calmSince: CALM, troubleSince: TROUBLE };
  await t.step(
    `one message more than FLOW_SLACK_MS before the trouble, from a connection opened after the calm stretch: struck (sent hi, paused, then fragments)`,
    () => {
      const attacker = activity({
        startedAt: CALM + 5000,
        messages: 1,
        sent: 1,
        lastMessageAt: TROUBLE - FLOW_SLACK_MS - 1,
      });
      assert.deepEqual(judged(attribute([[attacker, "127.0.0.2"]], troubled)), {
        struck: ["127.0.0.2"],
        vouched: [],
      });
    },
  );
  await t.step(
    "a reader whose last echo came just before the trouble (the held loop delivered none since): vouched for, and so, alas, is hi sent right before an attack",
    () => {
      const reader = activity({
        startedAt: CALM + 5000,
        messages: 40,
        sent: 40,
        lastMessageAt: TROUBLE - 150,
      });
      assert.deepEqual(judged(attribute([[reader, "127.0.0.3"]], troubled)), {
        struck: [],
        vouched: ["127.0.0.3"],
      });
    },
  );
  await t.step(
    "a reader whose echoes go on during the trouble (late, as the held loop delivers them): vouched for",
    () => {
      const reader = activity({
        startedAt: CALM + 5000,
        messages: 40,
        sent: 40,
        lastMessageAt: TROUBLE + 300,
      });
      assert.deepEqual(judged(attribute([[reader, "127.0.0.3"]], troubled)), {
        struck: [],
        vouched: ["127.0.0.3"],
      });
    },
  );
  await t.step(
    "a client connected before the calm stretch whose last message was before the trouble: spared, as there before it",
    () => {
      const chat = activity({
        startedAt: CALM - 1,
        messages: 3,
        sent: 3,
        lastMessageAt: TROUBLE - 4000,
      });
      assert.deepEqual(judged(attribute([[chat, "127.0.0.3"]], troubled)), {
        struck: [],
        vouched: ["127.0.0.3"],
      });
    },
  );
  await t.step(
    "a listen-only /stream reader sent a message during the trouble: vouched for",
    () => {
      const listener = activity({
        startedAt: CALM + 5000,
        sent: 9,
        lastMessageAt: TROUBLE + 10,
      });
      assert.deepEqual(
        judged(attribute([[listener, "127.0.0.4"]], troubled)).struck,
        [],
      );
    },
  );
});
