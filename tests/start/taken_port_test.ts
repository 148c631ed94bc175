/**
 * A port another process listens on stops start-up with one line naming
 * PORT and exit status 2, under both tasks, never a stack trace.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  serveTaskArgs,
  spawnService,
  startTaskArgs,
  waitForExit,
} from "../_server.ts";

const IN_USE =
  /^ws-echo: Cannot listen on 127\.0\.0\.1 port (\d+): Address already in use \(os error 98\) \(set BIND_ADDRESS or PORT\)\n$/;

/** Runs `deno <args>` with `env` while another listener holds the port. */
async function runOnTakenPort(
  args: (port: number) => Promise<string[]>,
  env: Record<string, string> = {},
): Promise<{ port: number; code: number; stdout: string; stderr: string }> {
  using held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = held.addr.port;
  const child = await spawnService(
    { PORT: String(port), BIND_ADDRESS: "127.0.0.1", ...env },
    { args: await args(port) },
  );
  const [stdout, stderr, status] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    waitForExit(child),
  ]);
  return { port, code: status.code, stdout, stderr };
}

function assertOneLine(
  result: { port: number; code: number; stdout: string; stderr: string },
) {
  assert.equal(result.code, 2);
  assert.match(result.stderr, IN_USE);
  assert.equal(result.stderr.match(IN_USE)?.[1], String(result.port));
  assert.doesNotMatch(result.stdout, /ws-echo: page/);
}

Deno.test("deno task serve on a taken port stops with one line naming PORT", async () => {
  const result = await runOnTakenPort(() =>
    Promise.resolve(["task", "--quiet", "serve"])
  );
  assertOneLine(result);
  // The task checks before deno serve starts: no worker printed anything.
  assert.equal(result.stdout, "");
});

Deno.test("deno serve itself on a taken port (taken after the task checked) stops with one line", async () => {
  // The task's command without its check, so Deno's own listen fails in
  // every worker.
  const result = await runOnTakenPort(async (port) => {
    const args = await serveTaskArgs(port);
    args.splice(args.indexOf(`--port=${port}`) + 1, 0, "--host=127.0.0.1");
    return args;
  }, { DENO_JOBS: "2" });
  assertOneLine(result);
});

Deno.test("deno task start on a taken port stops with one line naming PORT", async () => {
  // Bundled first, so the task's bundle step has nothing to say.
  const result = await runOnTakenPort(() =>
    startTaskArgs().then(() => ["task", "--quiet", "start"])
  );
  assertOneLine(result);
  assert.equal(result.stdout, "");
});
