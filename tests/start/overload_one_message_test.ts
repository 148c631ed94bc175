/**
 * A message or a room does not make an attacker immune (issue #20): an
 * attacker that sends "hi" and then an endless fragmented message, one that
 * joins a room (its members were never judged) and does the same, and a
 * pong flooder that sends a message now and then are struck at every
 * incident and refused on their third try, while a reading bystander on
 * another address echoes again within 5 s and is never refused. Against the
 * service as its own process, on loopback; `ss` (iproute2) tells the
 * flooder apart by the bytes the app never saw.
 */
import assert from "node:assert/strict";
import { clientFrame } from "../../bench/wire.ts";
import { HELD_ABORTED_REASON } from "../../lib/start/thread_aborts.ts";
import {
  addressesStruck,
  ATTACKER,
  attackTwice,
  floodUntilIncident,
  fragmentsUntilIncident,
  hasSs,
  recycles,
  startAttacked,
} from "./_overload.ts";

const hi = clientFrame(0x1, new TextEncoder().encode("hi"));

for (const path of ["/echo", "/room/lobby"]) {
  Deno.test(
    `an attacker on ${path} that sends "hi", then an endless fragmented message, is struck at every incident and refused on its third try`,
    async () => {
      await using service = await startAttacked();
      const { third } = await attackTwice(
        service.port,
        (try_) =>
          fragmentsUntilIncident(service.port, service.records, try_, {
            path,
            prelude: ({ socket }) => socket.write(hi),
          }),
        service.records,
      );
      const found = await recycles(service.records, 2);
      assert.equal(third, 429, JSON.stringify(found));
      for (const record of found) {
        assert.equal(addressesStruck(record), ATTACKER, JSON.stringify(record));
      }
    },
  );
}

Deno.test({
  name:
    "a pong flooder that sends a message every 200 ms is struck on the bytes the app never saw and refused on its third try",
  ignore: !hasSs(),
  fn: async () => {
    await using service = await startAttacked();
    const { third } = await attackTwice(
      service.port,
      (try_) =>
        floodUntilIncident(service.port, service.records, try_, {
          kind: "pong",
          messageEveryMs: 200,
        }),
      service.records,
    );
    assert.equal(third, 429);
    const found = await recycles(service.records, 2);
    // Only the flooder, at every incident (a try can make a second one
    // once it has gone: nobody struck then); and on the kernel's count:
    // the watch's (`unseen`), or the watchdog thread's on a held loop,
    // which reads only what no message handler saw (50211eb: a try can be
    // taken by the thread before the watch turns).
    for (const record of found) {
      assert.ok(
        [ATTACKER, undefined].includes(addressesStruck(record)),
        JSON.stringify(record),
      );
    }
    const counted = found.filter((record) =>
      addressesStruck(record) === ATTACKER &&
      (new RegExp(`^${ATTACKER} \\d+B$`).test(String(record.unseen)) ||
        String(record.reason).startsWith(HELD_ABORTED_REASON))
    );
    assert.ok(counted.length >= 2, JSON.stringify(found));
  },
});
