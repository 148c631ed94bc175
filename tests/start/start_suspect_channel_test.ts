/**
 * Under `deno task start` the suspect list hears the channel the RSS
 * watchdog thread tells whom it is aborting (`lib/start/startup.ts`,
 * `server.ts`): a client struck once that the thread is cutting is refused
 * before the main loop, held until the abort, reads the thread's message.
 * Before, only `deno task serve` workers heard it, and a fragment attacker
 * that reconnected at once was admitted on its third try (`deno task soak
 * --overload`, fragments under start, load 34: listed 0.1 s after its third
 * connection opened).
 */
import assert from "node:assert/strict";
import { DEFAULT_PROCESS_TIMEOUT_MS, ROOT } from "../_server.ts";

Deno.test("deno task start: the thread's word that it is aborting a client struck once refuses it at once", async () => {
  // The service as `main.ts` builds it, listening on nothing; a second
  // channel of the process stands in for the thread.
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--quiet",
      `import { bootService } from "./lib/start/startup.ts";
       import { createApp } from "./routes/app.ts";
       import { SUSPECT_CHANNEL } from "./lib/admission/suspect_peers.ts";
       const { echoApp, output } = bootService((name) => Deno.env.get(name), { mode: "run", createApp });
       const { suspects } = echoApp.services;
       suspects.strike(["127.0.0.2"], Date.now() - 5000);
       const thread = new BroadcastChannel(SUSPECT_CHANNEL);
       thread.postMessage({ kind: "aborting", at: Date.now(), addresses: ["127.0.0.2"] });
       const deadline = performance.now() + 5000;
       while (suspects.refusedFor("127.0.0.2") === 0 && performance.now() < deadline) {
         await new Promise((resolve) => setTimeout(resolve, 10));
       }
       output.flush();
       console.error(JSON.stringify({ refused: suspects.refusedFor("127.0.0.2"), other: suspects.refusedFor("127.0.0.3") }));
       Deno.exit(0);`,
    ],
    cwd: ROOT,
    clearEnv: true,
    env: { LOG_FORMAT: "json", PATH: Deno.env.get("PATH") ?? "" },
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(DEFAULT_PROCESS_TIMEOUT_MS),
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  const { refused, other } = JSON.parse(stderr.trim().split("\n").at(-1)!);
  // Refused for the listing its strike will make: 300 s.
  assert.equal(refused, 300, stderr);
  assert.equal(other, 0, stderr);
});
