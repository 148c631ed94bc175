/**
 * RSS rising too fast to wait for a held loop (issue #20): four endless
 * fragmented messages on a quiet machine grew RSS ~1.6-1.9 GB/s, and the
 * thread's first abort came after a 293 ms hold at 645 MiB (MAX_RSS_BYTES
 * 256 MiB). Whether the loop is held or not, the thread aborts the
 * process's own connections read more than one message beyond the payload
 * the app saw (`rising`, `watchdog_rules.ts`), before RSS reaches
 * MAX_RSS_BYTES, and no other. The thread is started as the watch starts
 * it, with a stand-in `ss` on PATH, and beaten every 10 ms as a busy
 * watch beats it (the loop turns: 4 MiB is allocated a turn); this
 * process grows its own RSS by about 56 MiB as fast as it can, up to 8
 * MiB short of the MAX_RSS_BYTES it gives the thread, so the pace is the
 * only signal and what the test allocates never reaches the line.
 *
 * @module
 */
import assert from "node:assert/strict";
import { until } from "../_client.ts";
import { startRssWatchdog } from "../../lib/start/rss_watchdog.ts";
import type { ThreadAbort } from "../../lib/start/watchdog_orders.ts";

const MiB = 1024 * 1024;

/**
 * A stand-in `ss`: at each look an attacker of this process (127.0.0.2)
 * and one of another worker's (127.0.0.3) have been read 8 MiB more, an
 * honest client of this process (127.0.0.4) one message of
 * MAX_MESSAGE_BYTES (1 MiB) between the first look and the second, then
 * nothing; an honest client of this process (127.0.0.5) pipelining 1 MiB
 * messages the app sees, read what `pipelined` says (the test's count, of
 * which the thread was told more first: {@link surge}); `-K` writes its
 * filter to `killed` and lists the attacker.
 */
const SS = `#!/bin/sh
dir=$(dirname "$0")
case "$*" in
  *-K*) echo "$*" >> "$dir/killed"; echo "0 0 127.0.0.1:9 127.0.0.2:40000"; exit 0;;
esac
n=$(cat "$dir/looks" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "$dir/looks"
attack=$((n * 8388608))
honest=$(( n > 1 ? 1048576 : 0 ))
printf '0 0 127.0.0.1:9 127.0.0.2:40000\\n\\t cubic bytes_received:%s\\n' $attack
printf '0 0 127.0.0.1:9 127.0.0.3:40001\\n\\t cubic bytes_received:%s\\n' $attack
printf '0 0 127.0.0.1:9 127.0.0.4:40002\\n\\t cubic bytes_received:%s\\n' $honest
printf '0 0 127.0.0.1:9 127.0.0.5:40003\\n\\t cubic bytes_received:%s\\n' $(cat "$dir/pipelined" 2>/dev/null || echo 0)
`;

/** What {@link surge} saw. */
interface Surge {
  aborts: ThreadAbort[];
  /** The MAX_RSS_BYTES the thread was given, in bytes. */
  maxRssBytes: number;
  /** RSS once this process grew its own, in bytes. */
  grownTo: number;
  killed: string;
}

/**
 * Starts the thread with MAX_RSS_BYTES 64 MiB over this process's RSS
 * (half of it under that RSS, so the thread reads every 20 ms), tells it
 * of 127.0.0.2, 127.0.0.4 and 127.0.0.5, beats it every 10 ms, grows RSS
 * to 8 MiB under the line, and waits for its first abort (at most 10 s). Each
 * time it checks (every 5 ms or so) it adds 1 MiB to what the pipeliner was read, and tells
 * the thread the payload seen as `OwnPeers.grew` would, 2 MiB ahead of
 * the kernel (then the stand-in reads it), so that the app's count cannot
 * lag the kernel's in a process slowed by load.
 */
async function surge(): Promise<Surge> {
  const dir = await Deno.makeTempDir();
  const path = Deno.env.get("PATH") ?? "";
  await Deno.writeTextFile(`${dir}/ss`, SS, { mode: 0o755 });
  Deno.env.set("PATH", `${dir}:${path}`);
  const aborts: ThreadAbort[] = [];
  const held: Uint8Array[] = [];
  let beating: ReturnType<typeof setInterval> | undefined;
  // Half of it (where the thread looks) is under this process's RSS.
  const maxRssBytes = Deno.memoryUsage().rss + 64 * MiB;
  const watchdog = startRssWatchdog(maxRssBytes, {
    line: "never written",
    maxMessageBytes: MiB,
    port: 9,
    onAbort: (abort) => aborts.push(abort),
  });
  try {
    assert.ok(!("unavailable" in watchdog), JSON.stringify(watchdog));
    beating = setInterval(() => watchdog.beat(true), 10);
    watchdog.peers({
      opened: ["127.0.0.2:40000", "127.0.0.4:40002", "127.0.0.5:40003"],
      closed: [],
    });
    // Up to 8 MiB under the line (less the thread's start), 4 MiB a turn
    // so that the beat goes on: every page touched.
    const rss = Deno.memoryUsage().rss;
    const grow = maxRssBytes - 8 * MiB - rss;
    assert.ok(grow >= 32 * MiB, `RSS ${rss} B, line ${maxRssBytes} B`);
    for (let at = 0; at + 4 * MiB <= grow; at += 4 * MiB) {
      held.push(new Uint8Array(4 * MiB).fill(1));
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    const grownTo = Deno.memoryUsage().rss;
    let pipelined = 0;
    await until(
      () => {
        pipelined += MiB;
        watchdog.peers({
          opened: [],
          closed: [],
          seen: [["127.0.0.5:40003", pipelined + 2 * MiB, true]],
        });
        Deno.writeTextFileSync(`${dir}/pipelined`, String(pipelined));
        return aborts.length > 0;
      },
      "the thread's abort",
      { timeoutMs: 10_000 },
    );
    const killed = await Deno.readTextFile(`${dir}/killed`);
    return { aborts, maxRssBytes, grownTo, killed };
  } finally {
    clearInterval(beating);
    held.length = 0;
    if (!("unavailable" in watchdog)) watchdog.dispose();
    Deno.env.set("PATH", path);
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("RSS rising toward MAX_RSS_BYTES faster than any message: the watchdog thread aborts the attacker before the line, with the loop never held", async (t) => {
  const { aborts, maxRssBytes, grownTo, killed } = await surge();
  await t.step("the attacker is aborted by the surge rule", () => {
    assert.equal(aborts[0]!.rising, true, JSON.stringify(aborts[0]));
    assert.equal(aborts[0]!.cause, "uncounted_memory");
    assert.deepEqual(aborts[0]!.peers, [{
      hostname: "127.0.0.2",
      port: 40000,
    }]);
    assert.ok(aborts[0]!.readBytes[0]! > MiB, String(aborts[0]!.readBytes));
  });
  await t.step("under MAX_RSS_BYTES, where RSS stopped", () => {
    assert.ok(grownTo < maxRssBytes, `${grownTo} B, line ${maxRssBytes} B`);
    assert.ok(aborts[0]!.rssBytes < maxRssBytes, String(aborts[0]!.rssBytes));
  });
  await t.step(
    "neither another worker's connection nor its own honest clients: one read one message, one pipelining messages the app saw",
    () => {
      assert.match(killed, /dst 127\.0\.0\.2:40000/);
      assert.doesNotMatch(killed, /127\.0\.0\.3|127\.0\.0\.4|127\.0\.0\.5/);
    },
  );
});
