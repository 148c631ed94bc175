/**
 * Past MAX_RSS_BYTES on a held loop, the RSS watchdog thread sweeps as the
 * main loop would (`abortHolding`, `incident_aborts.ts`): it aborts the
 * process's own connections the kernel read more than
 * `SPLIT_CONNECTION_BYTES` from beyond what the app saw, with no complete
 * message from them, though none was read 1 MiB between its looks (an
 * endless message split over 400 connections, stranger10 F2: the held
 * loop could not sweep, and the thread killed the process, "no connection
 * was read from"). The thread is started as the watch starts it, in a
 * child process (its RSS is the whole process's: a test runner's falls as
 * its type checker's memory is freed), with a stand-in `ss` on PATH and
 * never beaten: the loop counts as held; a ballast puts RSS past
 * MAX_RSS_BYTES. Where the process owns its listener (`deno task start`) a
 * connection of the port it was not yet told of counts as one with nothing
 * seen.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ROOT } from "../_server.ts";
import { runWatchdogChild, type ThreadRun } from "./_watchdog_child.ts";

/**
 * A stand-in `ss`: the same at every look, so no connection is read from
 * between two. Each of this process's connections was read 128 KiB:
 * 127.0.0.2 sent no complete message (a split attacker's fragments),
 * 127.0.0.4 sent complete messages the app saw, 127.0.0.6 had 126 KiB
 * seen by the app (messages dropped while closing); 127.0.0.5 was read
 * 8 KiB, no message yet; 127.0.0.3 is another worker's, read 128 KiB.
 * [::1] and [::ffff:127.0.0.7] are this process's, no complete message,
 * read 128 KiB: `ss`'s forms of an IPv6 and an IPv4-mapped peer.
 * 127.0.0.8 is this process's, no complete message, read 2 MiB: more than
 * any message of MAX_MESSAGE_BYTES (1 MiB) and its slack.
 * `-K` writes its filter to `killed` and lists 127.0.0.2.
 */
const SS = `#!/bin/sh
# No fork: the thread gives \`ss\` THREAD_SS_TIMEOUT_MS (1 s), and at load
# ~44 fifty runs of this with two command substitutions took 14-121 s, fifty
# without 3.3-27 s, the real \`ss\` 6 s; one timed out made the thread
# give up for the stretch, which here never ends ("past true 6 / none").
dir=\${0%/*}
# Each call, for a failure's message: how often the thread looked.
echo "$*" >> "$dir/calls"
case "$*" in
  *-K*) echo "$*" >> "$dir/killed"; echo "0 0 127.0.0.1:9 127.0.0.2:40000"; exit 0;;
esac
for peer in 127.0.0.2:40000 127.0.0.3:40001 127.0.0.4:40002 127.0.0.6:40004; do
  printf '0 0 127.0.0.1:9 %s\\n\\t cubic bytes_received:131072\\n' $peer
done
printf '0 0 127.0.0.1:9 127.0.0.5:40003\\n\\t cubic bytes_received:8192\\n'
printf '0 0 127.0.0.1:9 127.0.0.8:40007\\n\\t cubic bytes_received:2097152\\n'
for peer in '[::1]:40005' '[::ffff:127.0.0.7]:40006'; do
  printf '0 0 [::ffff:127.0.0.1]:9 %s\\n\\t cubic bytes_received:131072\\n' $peer
done
`;

/**
 * The child: MAX_RSS_BYTES 32 MiB above its RSS, then the thread (~16
 * MiB); it tells the thread of its connections, then makes a ballast 8
 * MiB past it (far under 1.5x, where the thread ends a process that may
 * abort) and prints the thread's first abort, or "none" after 8 s. `portOwned` as
 * under `deno task start`; `untold` are left out of what it is told.
 */
const child = (portOwned: boolean, untold: string[]) => `
import { startRssWatchdog } from "${ROOT}/lib/start/rss_watchdog.ts";
import { peerKey } from "${ROOT}/lib/start/socket_bytes.ts";
const MiB = 1024 * 1024;
const maxRssBytes = Deno.memoryUsage().rss + 32 * MiB;
let timer;
const watchdog = startRssWatchdog(maxRssBytes, {
  line: "the thread ended the process",
  maxMessageBytes: MiB,
  port: 9,
  portOwned: ${portOwned},
  onAbort: (abort) => {
    console.log("abort " + JSON.stringify(abort));
    clearTimeout(timer);
    watchdog.dispose();
  },
});
// Told before RSS passes MAX_RSS_BYTES: the thread may act from then on.
watchdog.peers({
  opened: [
    "127.0.0.2:40000", "127.0.0.4:40002", "127.0.0.5:40003", "127.0.0.6:40004",
    // As the main loop names them (own_peers.ts): Deno's hostnames.
    peerKey("::1", 40005), peerKey("::ffff:127.0.0.7", 40006),
    "127.0.0.8:40007",
  ].filter((peer) => !${JSON.stringify(untold)}.includes(peer)),
  closed: [],
  seen: [["127.0.0.4:40002", 131072 - 200, true], ["127.0.0.6:40004", 126 * 1024, false]],
});
// Kept (a global) to the end: memory a collection could free is no ballast.
const ballast = globalThis.ballast = [];
while (Deno.memoryUsage().rss < maxRssBytes + 8 * MiB) {
  ballast.push(new Uint8Array(4 * MiB).fill(1));
}
console.log("past", Deno.memoryUsage().rss >= maxRssBytes, ballast.length);
const pastAt = Date.now();
console.log("pastAt " + pastAt);
timer = setTimeout(() => {
  console.log("none", Date.now() - pastAt, "ms; rss past", Deno.memoryUsage().rss >= maxRssBytes);
  watchdog.dispose();
}, 8000);
`;

/**
 * {@link SS} whose first `calls` runs outlast the thread's deadline for
 * `ss` (THREAD_SS_TIMEOUT_MS, 1 s), as on a machine at load 40-49: the
 * thread's first abort past HELD_MS meets one. Counted in a file, no fork.
 */
function slowFirst(calls: number): string {
  return SS.replace(
    'echo "$*" >> "$dir/calls"\n',
    // A function: the shell's `$` must not read as replacement patterns.
    () =>
      'echo "$*" >> "$dir/calls"\n' +
      'n=0; [ -f "$dir/n" ] && read n < "$dir/n"; n=$((n + 1))\n' +
      'echo "$n" > "$dir/n"\n' +
      `[ "$n" -le ${calls} ] && exec sleep 5\n`,
  );
}

/** Runs {@link child} with {@link SS} (or `ss`) on PATH. */
function sweep(
  portOwned: boolean,
  untold: string[],
  ss = SS,
): Promise<ThreadRun> {
  return runWatchdogChild(ss, child(portOwned, untold));
}

Deno.test("past MAX_RSS_BYTES on a held loop, the watchdog thread aborts its own connections holding unseen bytes with no complete message, and spares clients the app saw", async (t) => {
  const { abort, killed } = await sweep(false, []);
  await t.step("the holder is swept, as uncounted memory, not named", () => {
    assert.equal(abort.cause, "uncounted_memory");
    assert.deepEqual(abort.swept?.[0], {
      hostname: "127.0.0.2",
      port: 40000,
    });
  });
  await t.step(
    "a holder of more unseen bytes than any message is named, to be struck",
    () => {
      assert.deepEqual(abort.peers, [{ hostname: "127.0.0.8", port: 40007 }]);
      assert.equal(abort.readBytes[0], 2 * 1024 * 1024);
      assert.ok(
        !abort.swept?.some(({ hostname }) => hostname === "127.0.0.8"),
      );
    },
  );
  await t.step(
    "an IPv6 and an IPv4-mapped peer are the main loop's connections to the thread too",
    () => {
      assert.deepEqual(abort.swept?.slice(1), [
        { hostname: "::1", port: 40005 },
        { hostname: "::ffff:127.0.0.7", port: 40006 },
      ]);
      assert.match(killed, /dst \[::1\]:40005/);
      assert.match(killed, /dst \[::ffff:127\.0\.0\.7\]:40006/);
    },
  );
  await t.step(
    "neither a client whose messages the app saw, one under 16 KiB, nor another worker's",
    () => {
      assert.match(killed, /dst 127\.0\.0\.2:40000/);
      assert.doesNotMatch(killed, /127\.0\.0\.[3-6]/);
    },
  );
});

Deno.test("where the process owns its listener, the watchdog thread sweeps a connection it was not yet told of as one with nothing seen", async (t) => {
  // `deno task start`: the main loop tells opens only at its samples, so
  // 127.0.0.2 and 127.0.0.3 stand for ones opened since the last.
  const { abort, killed } = await sweep(true, ["127.0.0.2:40000"]);
  await t.step("the untold holders are swept, not named", () => {
    assert.equal(abort.cause, "uncounted_memory");
    assert.deepEqual(abort.swept?.slice(0, 2), [
      { hostname: "127.0.0.2", port: 40000 },
      { hostname: "127.0.0.3", port: 40001 },
    ]);
    assert.deepEqual(abort.peers, [{ hostname: "127.0.0.8", port: 40007 }]);
  });
  await t.step("the clients it was told of are spared as before", () => {
    assert.doesNotMatch(killed, /127\.0\.0\.[4-6]/);
  });
});

Deno.test("past MAX_RSS_BYTES on a held loop, an `ss` that runs out of time is no finding: the watchdog thread aborts at a later look", async () => {
  // Two slow runs: a look and the first abort past HELD_MS. Taken for "found
  // nothing", that timeout gave up aborting until the loop turned, which
  // here it never does ("none" after 8 s), and the kill line fell to
  // MAX_RSS_BYTES + 25%.
  const { abort, killed } = await sweep(false, [], slowFirst(2));
  assert.deepEqual(abort.peers, [{ hostname: "127.0.0.8", port: 40007 }]);
  assert.match(killed, /dst 127\.0\.0\.2:40000/);
});
