/**
 * The ack watch's synchronous `ss` readings hold the event loop for every
 * client, so past `ACK_SYNC_MAX_CONNECTIONS` open connections it takes
 * none and leaves the book to the kernel-count check's streamed readings
 * (`lib/start/ack_watch.ts`).
 */
import assert from "node:assert/strict";
import {
  ACK_SYNC_MAX_CONNECTIONS,
  type AckSource,
  AckWatch,
} from "../../lib/start/ack_watch.ts";
import type { SocketBytesReading } from "../../lib/start/socket_bytes.ts";

/** Resolves once `done()` holds, checking every turn; rejects after `ms`. */
async function until(done: () => boolean, what: string, ms = 10_000) {
  const deadline = performance.now() + ms;
  while (!done()) {
    if (performance.now() > deadline) {
      throw new Error(`not within ${ms} ms: ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

Deno.test("the ack watch reads the kernel only while the worker's connections are few", async (t) => {
  let open = ACK_SYNC_MAX_CONNECTIONS + 1;
  let looks = 0;
  let readings = 0;
  const memory = {
    get pressed() {
      looks++;
      return true;
    },
  };
  const source: AckSource = {
    readSync(): SocketBytesReading {
      readings++;
      return { bytes: new Map(), queues: new Map() };
    },
  };
  const watch = new AckWatch({
    memory,
    source,
    log: () => {},
    openConnections: () => open,
    everyMs: 5,
  });
  try {
    await t.step(
      `past ${ACK_SYNC_MAX_CONNECTIONS} open: no synchronous reading`,
      async () => {
        await until(() => looks >= 3, "three looks at the guard");
        assert.equal(readings, 0);
      },
    );
    await t.step(
      "at or under it: it reads while the guard is pressed",
      async () => {
        open = ACK_SYNC_MAX_CONNECTIONS;
        await until(() => readings >= 1, "a reading");
      },
    );
  } finally {
    watch.dispose();
  }
});
