/**
 * An incident the watchdog thread's aborts join says so once, however many
 * joined (`lib/start/thread_joins.ts`): the record of one held stretch
 * read "…; the RSS watchdog thread aborted connections in the same held
 * stretch (ss -K)" twice when two aborts joined it.
 */
import assert from "node:assert/strict";
import type { IncidentRecord } from "../../lib/services.ts";
import { JOINED_REASON, ThreadJoins } from "../../lib/start/thread_joins.ts";

Deno.test("two aborts joined to one incident: counted both, said once", () => {
  const joins = new ThreadJoins({ aborting: () => false, aborts: () => 2 });
  for (const port of [5, 6]) {
    joins.join({
      abort: {
        cause: "uncounted_memory",
        peers: [{ hostname: "127.0.0.2", port }],
        readBytes: [1],
        rssBytes: 0,
        heldMs: 300,
        heldSince: 0,
      },
      aborted: 1,
      ahead: { keys: ["127.0.0.2"], strikes: [] },
    });
  }
  const record: IncidentRecord = {
    cause: "uncounted_memory",
    action: "aborted",
    at: "",
    rssBytes: 0,
    usedBytes: 0,
    eventLoopDelayMs: 0,
    closed: 0,
    struck: [],
    refused: {},
    reason: "the kernel's count named every attacking connection",
  };
  joins.fold(record, { suspectsListed: 0 });
  assert.equal(record.aborted, 2);
  assert.equal(
    record.reason,
    `the kernel's count named every attacking connection; ${JOINED_REASON}`,
  );
});
