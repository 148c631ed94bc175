/**
 * Past MAX_RSS_BYTES plus 25% on a held loop where a round found nothing
 * to abort, the RSS watchdog thread ends the process (lowers its kill line
 * from plus 50% to plus 25%) only while the kernel reads on, RSS grows and
 * no message reached the app in the stretch (`givesUp`,
 * `watchdog_rules.ts`): the thread's SIGKILL at plus 25% ended `deno task
 * start` under a first wave of 256 clients sending 1 MiB and never
 * reading, where runs it did not kill peaked at 302-361 MiB and lived
 * (rssfind.md), and every such death under `deno task serve` came after
 * "no connection was read from" with 0.0 MiB read (issue #20). Memory
 * that does not grow, and reads that explain the growth, are covered by
 * `givesUp`'s unit steps (`watchdog_rules_test.ts`): here the child grows
 * its RSS on and on with nothing read, so the thread ends it at plus 50%. The thread is started
 * as the watch starts it, in a child process, with a stand-in `ss` that
 * shows nothing read and nothing queued, and never beaten (the loop counts
 * as held); a ballast puts RSS past the plus-25% line and under plus 50%.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ROOT } from "../_server.ts";

/**
 * A stand-in `ss`: one connection, a complete message seen, nothing read,
 * nothing queued; each call is recorded in `calls`.
 */
const SS = `#!/bin/sh
echo "$*" >> "\${0%/*}/calls"
case "$*" in
  *-K*) exit 0;;
esac
printf '0 0 127.0.0.1:9 127.0.0.2:40000\\n\\t cubic bytes_received:1024\\n'
`;

/** How the memory past plus 25% comes: see {@link child}. */
type Mode = "growing" | "turning";

/**
 * The child: MAX_RSS_BYTES 64 MiB above its RSS, the thread, a ballast to
 * plus 30%. `growing`: 1 MiB every 20 ms after the thread started, on and
 * on (RSS grows during the hold); `turning`: built a piece a turn, and
 * it tells the thread 1 MiB more payload seen every 50 ms (the main loop's
 * end-of-turn update).
 * It prints "past true" (RSS between plus 25% and plus 50%) and "alive"
 * after six more looks of the thread, unless the thread ended it first.
 */
function child(mode: Mode): string {
  return `
import { startRssWatchdog } from "${ROOT}/lib/start/rss_watchdog.ts";
const MiB = 1024 * 1024;
const maxRssBytes = Deno.memoryUsage().rss + 64 * MiB;
// Kept (a global) to the end: memory a collection could free is no ballast.
const ballast = globalThis.ballast = [];
const grow = async () => {
  while (Deno.memoryUsage().rss < maxRssBytes * 1.3) {
    ballast.push(new Uint8Array(4 * MiB).fill(1));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};
// Growing on, 1 MiB every 20 ms, until the thread ends the process.
const growOn = async () => {
  for (;;) {
    ballast.push(new Uint8Array(MiB).fill(1));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};
console.log("max", maxRssBytes);
const watchdog = startRssWatchdog(maxRssBytes, {
  line: "the thread ended the process at __rss_bytes__: __abort__",
  maxMessageBytes: MiB,
  port: 9,
  portOwned: false,
  onAbort: (abort) => console.log("abort " + JSON.stringify(abort)),
});
const peer = "127.0.0.2:40000";
let seen = 1000;
watchdog.peers({ opened: [peer], closed: [], seen: [[peer, seen, true]] });
const tell = ${JSON.stringify(mode)} === "turning"
  ? setInterval(() => {
    seen += MiB;
    watchdog.peers({ opened: [], closed: [], seen: [[peer, seen, true]] });
  }, 50)
  : undefined;
if (${JSON.stringify(mode)} === "growing") await growOn();
await grow();
const rss = Deno.memoryUsage().rss;
console.log("past", rss > maxRssBytes * 1.25 && rss < maxRssBytes * 1.5);
// Six looks more (three rounds): the thread has judged by then.
const looks = () =>
  Deno.readTextFile(Deno.env.get("SS_DIR") + "/calls")
    .then((text) => text.split("\\n").length, () => 0);
const until = (await looks()) + 6;
while ((await looks()) < until) {
  await new Promise((resolve) => setTimeout(resolve, 50));
}
console.log("alive");
clearInterval(tell);
watchdog.dispose();
`;
}

/** Runs the child with the stand-in `ss` first on PATH; its output and signal. */
async function run(mode: Mode) {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/ss`, SS, { mode: 0o755 });
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["eval", child(mode)],
      cwd: ROOT,
      env: { PATH: `${dir}:${Deno.env.get("PATH") ?? ""}`, SS_DIR: dir },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      // Killed past it: a hang fails the test rather than holding it.
      signal: AbortSignal.timeout(60_000),
    }).output();
    const decoder = new TextDecoder();
    const stdout = decoder.decode(output.stdout);
    return {
      stdout,
      signal: output.signal,
      said: `${stdout} ${decoder.decode(output.stderr)}`,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("past MAX_RSS_BYTES plus 25% with nothing to abort, the watchdog thread ends the process only while the kernel reads on, RSS grows and no message reaches the app", async (t) => {
  const [growing, turning] = await Promise.all([
    run("growing"),
    run("turning"),
  ]);
  await t.step(
    "growing on, nothing read, nothing seen: SIGKILL at plus 50%, not 25%, with its line",
    () => {
      assert.equal(growing.signal, "SIGKILL", growing.said);
      const max = Number(/^max (\d+)$/m.exec(growing.stdout)?.[1]);
      const ended = /the thread ended the process at (\d+): (.*)$/m.exec(
        growing.stdout,
      );
      assert.ok(ended, growing.said);
      assert.ok(Number(ended[1]) >= max * 1.5, growing.said);
      assert.match(ended[2]!, /did not free enough/, growing.said);
    },
  );
  await t.step("messages still seen: the process lives under plus 50%", () => {
    assert.match(turning.stdout, /^past true$/m, turning.said);
    assert.equal(turning.signal, null, turning.said);
    assert.match(turning.stdout, /^alive$/m, turning.said);
  });
});
