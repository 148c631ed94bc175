/**
 * Past MAX_RSS_BYTES on a held loop with no connection read from, the RSS
 * watchdog thread aborts this process's connections that do not read what
 * it sends (their kernel send queue stays full between two looks,
 * `chooseUnread`, `watchdog_rules.ts`) before it would end the process:
 * 256 clients sending 1 MiB and never reading ended `deno task start` and
 * `deno task serve` at MAX_RSS_BYTES 256 MiB ("no connection was read
 * from", notes f3.md and stranger13 R14), the memory being echoes Deno
 * queued for them. The thread is started as the watch starts it, in a
 * child process, with a stand-in `ss` on PATH and never beaten (the loop
 * counts as held); a ballast puts RSS past MAX_RSS_BYTES (as
 * `watchdog_sweep_test.ts`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { ROOT } from "../_server.ts";
import { runWatchdogChild } from "./_watchdog_child.ts";

/**
 * A stand-in `ss`: every connection read the same at every look (none
 * read from between two), each with a complete message the app saw (none
 * swept). Send-Q: 127.0.0.2 keeps 1 MiB (never reads), 127.0.0.4 none (a
 * reader), 127.0.0.5 8 KiB (under 64 KiB), 127.0.0.6 1 MiB at every
 * other look and none between (a reader taking large echoes), 127.0.0.3 1 MiB
 * (another worker's: the workers share one RSS, so it goes too), [::1] 2
 * MiB (never reads, fuller). `-K` writes its filter to `killed`.
 */
const SS = `#!/bin/sh
# No fork (as watchdog_sweep_test.ts's): at load ~44 a forking stand-in
# outlasted the thread's 1 s for \`ss\`, and the thread gave up.
dir=\${0%/*}
case "$*" in
  *-K*) echo "$*" >> "$dir/killed"; echo "0 0 127.0.0.1:9 127.0.0.2:40000"; exit 0;;
esac
looks=0; [ -f "$dir/looks" ] && read -r looks < "$dir/looks"
echo $((looks + 1)) > "$dir/looks"
drained=$((looks % 2 * 1048576))
for row in 1048576:127.0.0.2:40000 1048576:127.0.0.3:40001 0:127.0.0.4:40002 \\
  8192:127.0.0.5:40003 $drained:127.0.0.6:40004 '2097152:[::1]:40005'; do
  printf '0 %s 127.0.0.1:9 %s\\n\\t cubic bytes_received:1024\\n' "\${row%%:*}" "\${row#*:}"
done
`;

/**
 * The child: MAX_RSS_BYTES 32 MiB above its RSS, then the thread; it tells
 * the thread of its connections (each saw a complete message), then makes
 * a ballast 8 MiB past it and prints the thread's first abort, or "none"
 * after 8 s.
 */
const child = `
import { startRssWatchdog } from "${ROOT}/lib/start/rss_watchdog.ts";
import { peerKey } from "${ROOT}/lib/start/socket_bytes.ts";
const MiB = 1024 * 1024;
const maxRssBytes = Deno.memoryUsage().rss + 32 * MiB;
let timer;
const watchdog = startRssWatchdog(maxRssBytes, {
  line: "the thread ended the process",
  maxMessageBytes: MiB,
  port: 9,
  portOwned: false,
  onAbort: (abort) => {
    console.log("abort " + JSON.stringify(abort));
    clearTimeout(timer);
    watchdog.dispose();
  },
});
const own = ["127.0.0.2:40000", "127.0.0.4:40002", "127.0.0.5:40003",
  "127.0.0.6:40004", peerKey("::1", 40005)];
watchdog.peers({ opened: own, closed: [], seen: own.map((peer) => [peer, 1000, true]) });
// Kept (a global) to the end: memory a collection could free is no ballast.
const ballast = globalThis.ballast = [];
while (Deno.memoryUsage().rss < maxRssBytes + 8 * MiB) {
  ballast.push(new Uint8Array(4 * MiB).fill(1));
}
console.log("past", Deno.memoryUsage().rss >= maxRssBytes, ballast.length);
timer = setTimeout(() => { console.log("none"); watchdog.dispose(); }, 8000);
`;

Deno.test("past MAX_RSS_BYTES on a held loop with nothing read from, the watchdog thread aborts the listener's connections that do not read, fullest first, and spares readers", async (t) => {
  const { abort, killed } = await runWatchdogChild(SS, child);
  await t.step(
    "the non-readers are aborted as uncounted memory, not named to be struck",
    () => {
      assert.equal(abort.cause, "uncounted_memory");
      assert.deepEqual(abort.peers, []);
      assert.equal(abort.swept, undefined);
      assert.deepEqual(abort.unread, [
        { hostname: "::1", port: 40005 },
        { hostname: "127.0.0.2", port: 40000 },
        { hostname: "127.0.0.3", port: 40001 },
      ]);
      assert.match(
        killed,
        /dst \[::1\]:40005 or dst 127\.0\.0\.2:40000 or dst 127\.0\.0\.3:40001 \)/,
      );
    },
  );
  await t.step(
    "neither a reader, one that drained between the looks, nor one under 64 KiB",
    () => {
      assert.doesNotMatch(killed, /127\.0\.0\.[4-6]/);
    },
  );
});
