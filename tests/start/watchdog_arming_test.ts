/**
 * The RSS watchdog's thread starts when no descriptor is left: Deno 2.9.6
 * panics, ending the process, when a `Worker`'s runtime gets none
 * (`runtime/tokio_util.rs:66` Too many open files), so the watch holds a
 * few from its start for the thread (`watchdog_arming.ts`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { ROOT } from "../_server.ts";

/**
 * A process under 64 descriptors that makes the arming, then takes every
 * descriptor left (loopback listeners until EMFILE), then starts the
 * thread, which writes its line past a 1-byte cap once the loop is held.
 */
const CHILD = `
import { WatchdogArming } from "${ROOT}/lib/start/watchdog_arming.ts";
import { ARM_AFTER_MS } from "${ROOT}/lib/start/rss_watchdog.ts";
const arming = new WatchdogArming(true, {
  maxRssBytes: 1,
  maxMessageBytes: 1024 * 1024,
  logFormat: "text",
});
const taken = [];
try {
  for (;;) taken.push(Deno.listen({ hostname: "127.0.0.1", port: 0 }));
} catch (error) {
  console.log("taken", taken.length, String(error).slice(0, 60));
}
const step = arming.tick(performance.now() + ARM_AFTER_MS);
console.log("step", JSON.stringify(step));
// The loop held for 1.5 s: the thread ends the process.
const until = performance.now() + 1500;
while (performance.now() < until) { /* held */ }
`;

/**
 * The same with the thread made ahead, as `serve.ts` makes it before any
 * worker serves: no descriptor is held for it, and it starts at the first
 * tick.
 */
const CHILD_AHEAD = `
import { makeThreadAhead, WatchdogArming } from "${ROOT}/lib/start/watchdog_arming.ts";
// Deno sets up its signal handling once (a socket pair), at the first
// signal listener, as the service does at start-up (stop_signal.ts); else a
// while after start, and with no descriptor left it panics then.
Deno.addSignalListener("SIGWINCH", () => {});
const config = { maxRssBytes: 1, maxMessageBytes: 1024 * 1024, logFormat: "text" };
const thread = makeThreadAhead(config);
const arming = new WatchdogArming(true, config, thread ? { thread } : {});
const taken = [];
try {
  for (;;) taken.push(Deno.listen({ hostname: "127.0.0.1", port: 0 }));
} catch (error) {
  console.log("taken", taken.length, String(error).slice(0, 60));
}
const step = arming.tick(performance.now());
console.log("step", JSON.stringify(step));
// Deno reads RSS from /proc/self/statm, 0 with no descriptor left.
for (const listener of taken.splice(0, 2)) listener.close();
const until = performance.now() + 1500;
while (performance.now() < until) { /* held */ }
`;

/** Runs `child` under 64 descriptors; its output and how it ended. */
async function runLimited(child: string) {
  const output = await new Deno.Command("prlimit", {
    args: ["--nofile=64:64", Deno.execPath(), "eval", child],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // Killed past it: a hang fails the test rather than holding it.
    signal: AbortSignal.timeout(60_000),
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  return { stdout, stderr, signal: output.signal };
}

for (
  const [how, child] of [["", CHILD], [" (made ahead)", CHILD_AHEAD]] as const
) {
  Deno.test(`the RSS watchdog's thread starts with no descriptor left, and ends a held process${how}`, async () => {
    const { stdout, stderr, signal } = await runLimited(child);
    assert.doesNotMatch(stderr, /panicked/, stderr);
    assert.match(stdout, /^taken \d+ .*Too many open files/m);
    assert.match(stdout, /^step "started"$/m);
    assert.match(stdout, /cause=uncounted_memory action=exit signal=SIGKILL/);
    assert.equal(signal, "SIGKILL", `${stdout} ${stderr}`);
  });
}
