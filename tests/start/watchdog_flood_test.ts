/**
 * A loop held by a flood of frames Deno answers itself, whatever the RSS:
 * once it has been held `FLOOD_HELD_MS`, the RSS watchdog thread aborts
 * the process's own connections read more than MAX_MESSAGE_BYTES plus
 * `FLOOD_SLACK_BYTES` since its first look of the hold, and no other
 * (stranger8 F7: a worker's loop held 13.5 s, the flooders gone before it
 * turned, so its stall incident took nobody); where the process owns its
 * listener (`deno task start`), every one of the port, told of or not.
 * The thread is started as the watch starts it, with a stand-in `ss` on
 * PATH that counts what the process read per connection, and never
 * beaten: the loop counts as held.
 *
 * @module
 */
import assert from "node:assert/strict";
import { until } from "../_client.ts";
import {
  FLOOD_HELD_MS,
  startRssWatchdog,
} from "../../lib/start/rss_watchdog.ts";
import type { ThreadAbort } from "../../lib/start/watchdog_orders.ts";

const MiB = 1024 * 1024;

/** The text of `path`, or `otherwise` where it is not there yet. */
function readOr(path: string, otherwise: string): string {
  try {
    return Deno.readTextFileSync(path).trim() || otherwise;
  } catch {
    return otherwise;
  }
}

/**
 * A stand-in `ss`: at each look a flooder of this process (127.0.0.2) and
 * one of another worker's (127.0.0.3) have been read 512 KiB more, an
 * honest client of this process (127.0.0.4) one message of
 * MAX_MESSAGE_BYTES (1 MiB) between the first look and the second, then
 * nothing (the held loop delivered it to no one, so it sent no other);
 * an honest client of this process (127.0.0.5) pipelining 1 MiB messages
 * the app takes without the watch's timer running, read 2 MiB more at
 * each look (its payload seen is told as it grows: {@link flood});
 * `-K` writes its filter to `killed` and lists the flooder.
 */
const SS = `#!/bin/sh
dir=$(dirname "$0")
case "$*" in
  *-K*) echo "$*" >> "$dir/killed"; echo "0 0 127.0.0.1:9 127.0.0.2:40000"; exit 0;;
esac
n=$(cat "$dir/looks" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "$dir/looks"
flood=$((n * 524288))
honest=$(( n > 1 ? 1048576 : 0 ))
printf '0 0 127.0.0.1:9 127.0.0.2:40000\\n\\t cubic bytes_received:%s\\n' $flood
printf '0 0 127.0.0.1:9 127.0.0.3:40001\\n\\t cubic bytes_received:%s\\n' $flood
printf '0 0 127.0.0.1:9 127.0.0.4:40002\\n\\t cubic bytes_received:%s\\n' $honest
printf '0 0 127.0.0.1:9 127.0.0.5:40003\\n\\t cubic bytes_received:%s\\n' $((n * 2097152))
`;

/** What {@link flood} saw: the thread's aborts and `ss -K`'s filters. */
interface Flood {
  aborts: ThreadAbort[];
  /** From the thread's start to its first abort, in ms. */
  abortedAfterMs: number;
  killed: string;
}

/**
 * Starts the thread as the watch does, with {@link SS} on PATH, tells it
 * of 127.0.0.2, 127.0.0.4 and 127.0.0.5 only, never beats it, and waits
 * for its first abort. After each look (n) it tells the pipeliner's
 * payload seen as `OwnPeers.grew` would: 2 MiB a look, ahead of the kernel
 * by two looks, so that a test process slowed by load cannot make the
 * app's count lag the kernel's.
 */
async function flood(portOwned: boolean): Promise<Flood> {
  const dir = await Deno.makeTempDir();
  const path = Deno.env.get("PATH") ?? "";
  await Deno.writeTextFile(`${dir}/ss`, SS, { mode: 0o755 });
  Deno.env.set("PATH", `${dir}:${path}`);
  const aborts: ThreadAbort[] = [];
  const startedAt = performance.now();
  let abortedAt = 0;
  const watchdog = startRssWatchdog(64 * 1024 * MiB, {
    line: "never written",
    maxMessageBytes: MiB,
    port: 9,
    portOwned,
    onAbort: (abort) => {
      abortedAt ||= performance.now();
      aborts.push(abort);
    },
  });
  try {
    assert.ok(!("unavailable" in watchdog), JSON.stringify(watchdog));
    watchdog.peers({
      opened: ["127.0.0.2:40000", "127.0.0.4:40002", "127.0.0.5:40003"],
      closed: [],
    });
    let told = 0;
    await until(
      () => {
        const looks = Number(readOr(`${dir}/looks`, "0"));
        if (looks > told) {
          told = looks;
          const seen = (looks + 2) * 2 * MiB;
          watchdog.peers({
            opened: [],
            closed: [],
            seen: [["127.0.0.5:40003", seen, true]],
          });
        }
        return aborts.length > 0;
      },
      "the thread's abort",
      { timeoutMs: FLOOD_HELD_MS + 8000 },
    );
    const killed = await Deno.readTextFile(`${dir}/killed`);
    return { aborts, abortedAfterMs: abortedAt - startedAt, killed };
  } finally {
    if (!("unavailable" in watchdog)) watchdog.dispose();
    Deno.env.set("PATH", path);
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("on a loop held by a flood, the watchdog thread aborts the flooder among its own connections, whatever the RSS", async (t) => {
  const { aborts, abortedAfterMs, killed } = await flood(false);
  await t.step("the flooder is aborted, as a stall", () => {
    assert.equal(aborts[0]!.cause, "event_loop_stall");
    assert.deepEqual(aborts[0]!.peers, [{
      hostname: "127.0.0.2",
      port: 40000,
    }]);
    assert.ok(aborts[0]!.readBytes[0]! > MiB, String(aborts[0]!.readBytes));
  });
  await t.step(
    "not before the loop has been held FLOOD_HELD_MS, with RSS far under MAX_RSS_BYTES",
    () => {
      assert.ok(abortedAfterMs >= FLOOD_HELD_MS);
      assert.ok(aborts[0]!.heldMs >= FLOOD_HELD_MS);
    },
  );
  await t.step(
    "neither another worker's connection nor its own honest client read one message",
    () => {
      assert.match(killed, /dst 127\.0\.0\.2:40000/);
      assert.doesNotMatch(killed, /127\.0\.0\.3|127\.0\.0\.4/);
    },
  );
  await t.step(
    "nor its own honest client pipelining messages the app saw, read 2 MiB a look",
    () => {
      assert.doesNotMatch(killed, /127\.0\.0\.5/);
    },
  );
});

Deno.test("where the process owns its listener, the watchdog thread takes every flooder of the port, told of or not", async (t) => {
  // `deno task start`: the main loop tells opens only at its samples, so
  // 127.0.0.3 stands for one opened since the last.
  const { aborts, killed } = await flood(true);
  await t.step("both flooders are aborted, as a stall", () => {
    assert.equal(aborts[0]!.cause, "event_loop_stall");
    assert.deepEqual(aborts[0]!.peers.map(({ hostname }) => hostname).sort(), [
      "127.0.0.2",
      "127.0.0.3",
    ]);
  });
  await t.step(
    "not the honest clients: one read one message, one pipelining messages the app saw",
    () => {
      assert.match(killed, /dst 127\.0\.0\.3:40001/);
      assert.doesNotMatch(killed, /127\.0\.0\.4|127\.0\.0\.5/);
    },
  );
});
