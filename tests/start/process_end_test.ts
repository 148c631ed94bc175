/**
 * How a stopped process ends (`lib/start/process_end.ts`): a serve worker
 * that drained at once waits for the others before it ends the process, and
 * with OpenTelemetry on a thread ends a process whose exit hangs. Two `ProcessEnd`s on one
 * BroadcastChannel stand for two workers.
 */
import assert from "node:assert/strict";
import { ProcessEnd } from "../../lib/start/process_end.ts";
import { withDeadline } from "../_client.ts";

/**
 * One turn of the timer queue: a 0 ms exit armed before this call has fired
 * by the time it resolves (timers of one delay fire in order).
 */
function timerTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

Deno.test("ProcessEnd: a worker that stopped ends the process only once every worker has stopped", async () => {
  const exits: string[] = [];
  let bothExited: () => void;
  const done = new Promise<void>((resolve) => bothExited = resolve);
  const worker = (name: string) =>
    new ProcessEnd({
      workers: 2,
      waitMs: 0,
      exit: (code) => {
        exits.push(`${name} ${code}`);
        if (exits.length === 2) bothExited();
      },
    });
  const first = worker("first");
  const second = worker("second");
  first.begin(60_000);
  second.begin(60_000);
  first.stopped();
  await timerTurn();
  // The second is still draining: ending the process now would cut it.
  assert.deepEqual(exits, []);
  second.stopped();
  await withDeadline(done, 5000, "both workers' exits");
  assert.deepEqual(exits.sort(), ["first 0", "second 0"]);
});

Deno.test("ProcessEnd: with OpenTelemetry on (reap) a process whose exit hangs is ended by SIGKILL at the deadline", async () => {
  // The child's exit spins forever, as Deno.exit does when OpenTelemetry's
  // flush deadlocks (`exit_reaper.ts`); only another thread can end it.
  const module = new URL("../../lib/start/process_end.ts", import.meta.url);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { ProcessEnd } from "${module.href}";
      const end = new ProcessEnd({ workers: 1, waitMs: 0, reap: true,
        exit: () => { for (;;) {} } });
      end.begin(300);
      end.stopped();`,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    const status = await withDeadline(
      child.status,
      20_000,
      "the reaper's SIGKILL",
    );
    assert.equal(status.signal, "SIGKILL");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already ended: the reaper did.
    }
    await child.status;
    await child.stderr.cancel();
  }
});

Deno.test("ProcessEnd: without reap no thread ends the process: the wait and the deadline call exit", async () => {
  const exits: number[] = [];
  const end = new ProcessEnd({
    workers: 1,
    waitMs: 0,
    exit: (code) => exits.push(code),
  });
  end.begin(0);
  end.stopped();
  await timerTurn();
  assert.deepEqual(exits, [0]);
});
