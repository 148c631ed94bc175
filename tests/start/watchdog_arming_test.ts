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

Deno.test("the RSS watchdog's thread starts with no descriptor left, and ends a held process", async () => {
  const output = await new Deno.Command("prlimit", {
    args: ["--nofile=64:64", Deno.execPath(), "eval", CHILD],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // Killed past it: a hang fails the test rather than holding it.
    signal: AbortSignal.timeout(60_000),
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.doesNotMatch(stderr, /panicked/, stderr);
  assert.match(stdout, /^taken \d+ .*Too many open files/m);
  assert.match(stdout, /^step "started"$/m);
  assert.match(stdout, /cause=uncounted_memory action=exit signal=SIGKILL/);
  assert.equal(output.signal, "SIGKILL", `${stdout} ${stderr}`);
});
