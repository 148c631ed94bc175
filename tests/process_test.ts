import assert from "node:assert/strict";
import {
  Inbox,
  openRawWebSocket,
  openWebSocket,
  ROOT,
  startTaskArgs,
} from "./_helpers.ts";

/** Spawns the service as `deno task start` would, and reads its first stdout line. */
async function spawnService(env: Record<string, string>, args?: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: args ?? await startTaskArgs(),
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return child;
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(stream).text();
}

async function firstLine(stream: ReadableStream<Uint8Array>) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  return { line: text.split("\n")[0]!, rest: reader };
}

Deno.test("deno task start prints its URLs, echoes, and closes 1001 on SIGTERM then exits", async () => {
  const child = await spawnService({ PORT: "0", HOSTNAME: "127.0.0.1" });
  const stderr = readAll(child.stderr);
  const { line, rest } = await firstLine(child.stdout);
  const match = line.match(
    /page http:\/\/127\.0\.0\.1:(\d+)\/ {2}echo ws:\/\/127\.0\.0\.1:\d+\/echo/,
  );
  assert.ok(match, `start-up line: ${line}`);
  const socket = await openWebSocket(`ws://127.0.0.1:${match[1]}/echo`);
  const inbox = new Inbox(socket);
  socket.send("before shutdown");
  assert.equal(await inbox.next(), "before shutdown");

  child.kill("SIGTERM");
  const close = await inbox.closed;
  assert.equal(close.code, 1001);
  assert.equal(close.reason, "server shutting down");
  const status = await child.status;
  assert.equal(status.code, 0);
  await rest.cancel();
  assert.equal(await stderr, "");
});

Deno.test("shutdown finishes within the grace period when a client never answers the close", async () => {
  const child = await spawnService({
    PORT: "0",
    HOSTNAME: "127.0.0.1",
    SHUTDOWN_GRACE_SECONDS: "1",
  });
  const stderr = readAll(child.stderr);
  const { line, rest } = await firstLine(child.stdout);
  const port = Number(line.match(/:(\d+)\//)![1]);
  // A raw client that completes the handshake and then never reads or answers.
  const conn = await openRawWebSocket(port);
  child.kill("SIGTERM");
  const status = await child.status;
  assert.equal(status.code, 0);
  conn.close();
  await rest.cancel();
  await stderr;
});

Deno.test("an invalid variable stops start-up with one line naming it", async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [
      { PORT: "abc" },
      /^ws-echo: Invalid PORT "abc": expected an integer 0-65535\n$/,
    ],
    [
      { PORT: "70000" },
      /^ws-echo: Invalid PORT "70000": expected an integer 0-65535\n$/,
    ],
    [
      { MAX_MESSAGE_BYTES: "-1" },
      /^ws-echo: Invalid MAX_MESSAGE_BYTES "-1": expected an integer/,
    ],
    [
      { TRUST_PROXY: "yes" },
      /^ws-echo: Invalid TRUST_PROXY "yes": expected true or false\n$/,
    ],
    [
      { ALLOWED_ORIGINS: "example.com" },
      /^ws-echo: Invalid ALLOWED_ORIGINS "example.com": expected "\*" or a comma-separated list/,
    ],
    [
      { TLS_CERT_FILE: "cert.pem" },
      /^ws-echo: Missing TLS_KEY_FILE: TLS_CERT_FILE and TLS_KEY_FILE must be set together\n$/,
    ],
  ];
  for (const [env, message] of cases) {
    await t.step(JSON.stringify(env), async () => {
      const child = await spawnService(env);
      const [stdout, stderr, status] = await Promise.all([
        readAll(child.stdout),
        readAll(child.stderr),
        child.status,
      ]);
      assert.equal(status.code, 2);
      assert.match(stderr, message);
      assert.equal(stdout, "");
    });
  }
});

Deno.test("a missing permission fails with one line, not a stack trace", async () => {
  const args = (await startTaskArgs()).filter((arg) =>
    !arg.startsWith("--allow-net")
  );
  const child = await spawnService({ PORT: "0", HOSTNAME: "127.0.0.1" }, args);
  const [stderr, status] = await Promise.all([
    readAll(child.stderr),
    child.status,
    child.stdout.cancel(),
  ]);
  assert.equal(status.code, 2);
  assert.match(stderr, /^ws-echo: Missing permission: .*net access/i);
  assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
});
