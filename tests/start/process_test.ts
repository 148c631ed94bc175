import assert from "node:assert/strict";
import {
  spawnService,
  startService,
  startTaskArgs,
  waitForExit,
} from "../_server.ts";
import { closeAndWait, connect, readTextUntil } from "../_client.ts";
import {
  openRawWebSocket,
  upgradeRequest,
  withDeadline,
  writeAll,
} from "../../bench/wire.ts";

/** The start line's neighbour where the open-file limit is low (fd_limit.ts). */
const LOWERED_CAP = /^ws-echo: MAX_CONNECTIONS lowered from .*\n/m;

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(stream).text();
}

Deno.test("deno task start prints its URLs, echoes, and closes 1001 on SIGTERM then exits", async () => {
  await using service = await startService({
    PORT: "0",
    BIND_ADDRESS: "127.0.0.1",
    // The start as a shell runs it: `ss` and `prlimit` found on PATH.
    PATH: Deno.env.get("PATH") ?? "",
  });
  const stderr = readAll(service.child.stderr);
  const { line } = service;
  const match = line.match(
    /page http:\/\/127\.0\.0\.1:(\d+)\/ {2}echo ws:\/\/127\.0\.0\.1:\d+\/echo/,
  );
  assert.ok(match, `start-up line: ${line}`);
  const { socket, inbox } = await connect(`ws://127.0.0.1:${match[1]}/echo`);
  socket.send("before shutdown");
  assert.equal(await inbox.next(), "before shutdown");

  service.child.kill("SIGTERM");
  const close = await inbox.closed();
  assert.equal(close.code, 1001);
  assert.equal(close.reason, "server shutting down");
  const status = await waitForExit(service.child);
  assert.equal(status.code, 0);
  // Nothing but the line a low open-file limit asks for (fd_limit.ts).
  assert.equal((await stderr).replace(LOWERED_CAP, ""), "");
});

Deno.test("a service whose stdout reader has gone keeps echoing, then exits 0 on SIGTERM", async () => {
  await using service = await startService({
    PORT: "0",
    BIND_ADDRESS: "127.0.0.1",
  });
  const stderr = readAll(service.child.stderr);
  // As a supervisor that stops reading does: every later log write is EPIPE.
  await service.stdout.cancel();
  const url = `ws://127.0.0.1:${service.port}/echo`;
  const first = await connect(url);
  first.socket.send("one");
  assert.equal(await first.inbox.next(), "one");
  await closeAndWait(first.socket, first.inbox);
  const second = await connect(url);
  second.socket.send("two");
  assert.equal(await second.inbox.next(), "two");

  service.child.kill("SIGTERM");
  // Its close is logged during shutdown, so the last flush meets the EPIPE.
  assert.equal((await second.inbox.closed()).code, 1001);
  const status = await waitForExit(service.child);
  assert.equal(status.code, 0);
  assert.equal(await stderr, "");
});

Deno.test("open_delay clients that open and that go away leave stderr empty (no legacy request.signal warning)", async () => {
  await using service = await startService({
    PORT: "0",
    BIND_ADDRESS: "127.0.0.1",
    LOG_FORMAT: "json",
  });
  const stderr = readAll(service.child.stderr);
  // Deno warns once the first response succeeds after request.signal was
  // read in its legacy mode; deno.json opts in to `no-legacy-abort`, where
  // the signal aborts only when the client goes.
  const opened = await connect(
    `ws://127.0.0.1:${service.port}/echo?open_delay=50`,
  );
  opened.socket.send("after the delay");
  assert.equal(await opened.inbox.next(), "after the delay");
  await closeAndWait(opened.socket, opened.inbox);
  const gone = await Deno.connect({
    hostname: "127.0.0.1",
    port: service.port,
  });
  await writeAll(
    gone,
    new TextEncoder().encode(upgradeRequest("/echo?open_delay=10000")),
  );
  gone.close();
  // The service notices the client gone well before the delay ends.
  await readTextUntil(
    service.stdout,
    (text) => text.includes('"client_gone"'),
    "the refusal of the client that went during its open_delay",
    { timeoutMs: 8000 },
  );
  service.child.kill("SIGTERM");
  assert.equal((await waitForExit(service.child)).code, 0);
  assert.equal(await stderr, "");
});

Deno.test("an upgrade the client reset does not hold the process past its grace on SIGTERM", async () => {
  await using service = await startService({
    PORT: "0",
    BIND_ADDRESS: "127.0.0.1",
    SHUTDOWN_GRACE_SECONDS: "1",
  });
  const stderr = readAll(service.child.stderr);
  // The request, then a reset: Deno never opens the socket, so the
  // connection waits for its open deadline (10 s) in the sweep.
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: service.port,
  });
  await writeAll(conn, new TextEncoder().encode(upgradeRequest("/echo")));
  conn.close();
  const healthz = `http://127.0.0.1:${service.port}/healthz`;
  const response = await fetch(healthz);
  assert.equal(response.status, 200);
  await response.body?.cancel();
  service.child.kill("SIGTERM");
  // The drain (one grace), then at most SERVER_STOP_MS for Deno's server,
  // then Deno.exit: about 2 s. Before, the process waited for Deno's server
  // for another grace and then for main's 5 s fallback, at least 7 s here
  // (measured 6.7-11 s), so 6 s tells the two apart with room for a busy
  // machine.
  const status = await withDeadline(
    waitForExit(service.child),
    6000,
    "the exit after SIGTERM",
  );
  assert.equal(status.code, 0);
  assert.equal(await stderr, "");
});

Deno.test("shutdown finishes within the grace period when a client never answers the close", async () => {
  const SHUTDOWN_GRACE_SECONDS = 1;
  // Generous: the bound catches a shutdown that ignores the grace period, not jitter.
  const MARGIN_SECONDS = 2;
  await using service = await startService({
    PORT: "0",
    BIND_ADDRESS: "127.0.0.1",
    SHUTDOWN_GRACE_SECONDS: String(SHUTDOWN_GRACE_SECONDS),
  });
  const stderr = readAll(service.child.stderr);
  // A raw client that completes the handshake and then never reads or answers.
  const { conn } = await openRawWebSocket(service.port);
  try {
    const signalled = performance.now();
    service.child.kill("SIGTERM");
    const status = await waitForExit(service.child);
    const seconds = (performance.now() - signalled) / 1000;
    assert.equal(status.code, 0);
    assert.ok(
      seconds < SHUTDOWN_GRACE_SECONDS + MARGIN_SECONDS,
      `exited ${
        seconds.toFixed(2)
      } s after SIGTERM with a ${SHUTDOWN_GRACE_SECONDS} s grace period`,
    );
  } finally {
    conn.close();
  }
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
      /^ws-echo: Invalid TRUST_PROXY "yes": expected the number of proxies in front of the service, 0-10 \(true = 1, false = 0\)\n$/,
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
        waitForExit(child),
      ]);
      assert.equal(status.code, 2);
      assert.match(stderr, message);
      assert.equal(stdout, "");
    });
  }
});

Deno.test("a missing permission fails with one line, not a stack trace", async () => {
  // The start task's permission set, with network access taken away.
  const args = await startTaskArgs();
  args.splice(1, 0, "--deny-net");
  const child = await spawnService({ PORT: "0", BIND_ADDRESS: "127.0.0.1" }, {
    args,
  });
  const [stderr, status] = await Promise.all([
    readAll(child.stderr),
    waitForExit(child),
    child.stdout.cancel(),
  ]);
  assert.equal(status.code, 2);
  assert.match(stderr, /^ws-echo: Missing permission: .*net access/i);
  assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
});

Deno.test("the bind address is BIND_ADDRESS; HOSTNAME, which containers set to their id, is ignored", async (t) => {
  await t.step("HOSTNAME=4f1c2a9e7b3d starts and echoes", async () => {
    await using service = await startService({
      PORT: "0",
      BIND_ADDRESS: "127.0.0.1",
      HOSTNAME: "4f1c2a9e7b3d",
    });
    const { socket, inbox } = await connect(
      `ws://127.0.0.1:${service.port}/echo`,
    );
    socket.send("in a container");
    assert.equal(await inbox.next(), "in a container");
    await closeAndWait(socket, inbox);
  });
  await t.step(
    "an address it cannot listen on stops start-up with one line",
    async () => {
      // 192.0.2.1 (TEST-NET-1) is on no interface here: binding fails locally.
      const child = await spawnService({
        PORT: "0",
        BIND_ADDRESS: "192.0.2.1",
      });
      const [stdout, stderr, status] = await Promise.all([
        readAll(child.stdout),
        readAll(child.stderr),
        waitForExit(child),
      ]);
      assert.equal(status.code, 2);
      assert.match(
        stderr,
        /^ws-echo: Cannot listen on 192\.0\.2\.1 port 0: .+ \(set BIND_ADDRESS or PORT\)\n$/,
      );
      assert.equal(stdout, "");
    },
  );
});
