/**
 * `deno task serve` (deno serve --parallel): its workers, its start-up
 * errors and its listen address.
 */
import assert from "node:assert/strict";
import { serveHost } from "../../lib/start/startup.ts";
import {
  DEFAULT_PROCESS_TIMEOUT_MS,
  killGroup,
  readServeTask,
  ROOT,
  spawnServeTask,
  waitForExit,
} from "../_server.ts";
import { connect, until } from "../_client.ts";
import { freePort } from "../../bench/wire.ts";

/**
 * `deno task serve` with two workers on `port`, once it has printed its page
 * line and both workers their start lines: `lines` keeps collecting stdout.
 * The caller ends it (`await using`).
 */
async function startServeTask(port: number, env: Record<string, string> = {}) {
  // The start as a shell runs it: each worker finds `ss` and `prlimit`.
  env = { PATH: Deno.env.get("PATH") ?? "", ...env };
  const task = readServeTask(port, { workers: 2, env });
  await until(
    () =>
      task.lines.some((line) => line.startsWith("ws-echo: page")) &&
      task.lines.filter((line) => line.startsWith("start ")).length === 2,
    "the page line and a start line from each of two workers",
    // Two workers, each loading the service, on a busy machine.
    { timeoutMs: 2 * DEFAULT_PROCESS_TIMEOUT_MS },
  ).catch(async (error) => {
    throw new Error(`${error.message}; stderr: ${await task.end()}`);
  });
  return task;
}

Deno.test("deno task serve runs two workers on PORT, IPv4 and IPv6, that echo, answer /healthz, and close 1001 on SIGTERM", async () => {
  const port = freePort();
  await using task = await startServeTask(port);
  const { child, lines } = task;
  const page = lines.find((line) => line.startsWith("ws-echo: page"))!;
  assert.equal(
    page,
    `ws-echo: page http://localhost:${port}/  echo ws://localhost:${port}/echo`,
  );
  for (const line of lines.filter((line) => line.startsWith("start "))) {
    assert.match(line, / mode=serve /);
    assert.match(line, new RegExp(` port=${port} `));
  }
  // BIND_ADDRESS unset: `::`, which takes IPv4 clients as well.
  for (const host of ["127.0.0.1", "[::1]"]) {
    const health = await fetch(`http://${host}:${port}/healthz`);
    assert.equal(health.status, 200, host);
    assert.equal((await health.json()).status, "ok");
  }
  const { socket, inbox } = await connect(`ws://127.0.0.1:${port}/echo`);
  socket.send("parallel");
  assert.equal(await inbox.next(), "parallel");
  child.kill("SIGTERM");
  const close = await inbox.closed();
  assert.equal(close.code, 1001);
  assert.equal((await waitForExit(child)).code, 0);
  // Deno's `Task …` line, on a fresh checkout deploy/bundle.ts's
  // `ws-echo: bundled dist/….js` (the task builds stale bundles first), and
  // each worker's `MAX_CONNECTIONS lowered …` where the open-file limit asks
  // for it (fd_limit.ts) are the only lines expected on stderr.
  const errors = (await task.end()).split("\n").filter((line) =>
    line && !line.startsWith("Task ") &&
    !/^ws-echo: bundled dist\//.test(line) &&
    !/^(\[serve-worker-\d+ *\] )?ws-echo: MAX_CONNECTIONS lowered from /.test(
      line,
    )
  );
  assert.deepEqual(errors, []);
});

Deno.test("deno task serve ends on a SIGTERM that comes while its workers are still starting", async () => {
  // Four workers, the signal as soon as the first one listens (its page
  // line): the others are still loading. Before lib/start/stop_signal.ts the
  // late workers never heard it and served on: 4 of 4 runs still up 15 s on.
  await using task = readServeTask(0, { workers: 4 });
  const { child, lines } = task;
  await until(
    () => lines.some((line) => line.startsWith("ws-echo: page")),
    "the page line of the first worker that listens",
    { timeoutMs: 2 * DEFAULT_PROCESS_TIMEOUT_MS },
  );
  child.kill("SIGTERM");
  // SHUTDOWN_GRACE_SECONDS is 3; the deadline is for a busy machine.
  const status = await waitForExit(child, {
    timeoutMs: 2 * DEFAULT_PROCESS_TIMEOUT_MS,
  });
  assert.equal(status.code, 0, await task.stderr);
});

Deno.test("deno task serve stops on a bad variable with one line naming it, like deno task start", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "serve"],
    cwd: ROOT,
    env: { NO_COLOR: "1", PORT: "abc" },
    stdin: "null",
  }).output();
  assert.equal(code, 2);
  assert.equal(
    new TextDecoder().decode(stderr),
    'ws-echo: Invalid PORT "abc": expected an integer 0-65535\n',
  );
  assert.equal(new TextDecoder().decode(stdout), "");
});

Deno.test("deno task serve with PORT=0: every worker's start line names the one port Deno picked for all", async () => {
  await using task = await startServeTask(0, { BIND_ADDRESS: "127.0.0.1" });
  const { child, lines } = task;
  const port = /:(\d+)\//.exec(
    lines.find((line) => line.startsWith("ws-echo: page"))!,
  )![1];
  assert.notEqual(port, "0");
  const starts = lines.filter((line) => line.startsWith("start "));
  for (const line of starts) assert.match(line, new RegExp(` port=${port} `));
  child.kill("SIGTERM");
  assert.equal((await waitForExit(child)).code, 0);
});

Deno.test("deno task serve refuses the TLS files with one line, since deno serve cannot listen with TLS", async () => {
  const child = spawnServeTask(0, {
    env: { TLS_CERT_FILE: "cert.pem", TLS_KEY_FILE: "key.pem" },
  });
  const stdout = new Response(child.stdout).text();
  const stderr = new Response(child.stderr).text();
  try {
    assert.equal((await waitForExit(child)).code, 2);
  } finally {
    killGroup(child);
  }
  assert.equal(
    await stderr,
    "ws-echo: Cannot use TLS_CERT_FILE and TLS_KEY_FILE under deno task serve: deno serve cannot listen with TLS; use deno task start, or unset them and end TLS at a proxy in front\n",
  );
  assert.equal(await stdout, "");
});

Deno.test("serveHost() gives deno serve BIND_ADDRESS, or [::] for both IPv6 and IPv4", () => {
  assert.equal(serveHost({ bindAddress: undefined }, () => true), "[::]");
  assert.equal(serveHost({ bindAddress: undefined }, () => false), "0.0.0.0");
  assert.equal(serveHost({ bindAddress: "127.0.0.1" }), "127.0.0.1");
  assert.equal(serveHost({ bindAddress: "::1" }), "[::1]");
  assert.equal(serveHost({ bindAddress: "echo.example" }), "echo.example");
});
