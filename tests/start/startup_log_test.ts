/**
 * What the service logs as it starts: the JSON and text formats, the
 * settings in force, and startRecord().
 */
import assert from "node:assert/strict";
import { DEFAULT_CONFIG } from "../../lib/config.ts";
import { startRecord } from "../../lib/start/start_record.ts";
import {
  DEFAULT_PROCESS_TIMEOUT_MS,
  readServiceLog,
  ROOT,
  startService,
} from "../_server.ts";
import { closeAndWait, connect, until, withDeadline } from "../_client.ts";
import { hasSs } from "./_overload.ts";

const LOOPBACK = { PORT: "0", BIND_ADDRESS: "127.0.0.1" };

Deno.test("LOG_FORMAT=json writes one JSON object per line with the start-up settings and each close", async () => {
  await using service = await startService({ ...LOOPBACK, LOG_FORMAT: "json" });
  const listening = JSON.parse(service.line);
  assert.equal(listening.event, "listening", "the first line is JSON too");
  assert.equal(listening.page, `http://127.0.0.1:${service.port}/`);
  assert.equal(listening.echo, `ws://127.0.0.1:${service.port}/echo`);
  const { socket, inbox } = await connect(
    `ws://127.0.0.1:${service.port}/echo`,
  );
  socket.send("one");
  socket.send("two");
  await inbox.take(2);
  await closeAndWait(socket, inbox);
  const log = readServiceLog(service);
  // The start record waits for the open-file limit (`learned_cap.ts`).
  await until(
    () =>
      log.lines.some((line) => line.includes('"ws_close"')) &&
      log.lines.some((line) => line.includes('"event":"start"')),
    "the ws_close line and the start record",
    { timeoutMs: DEFAULT_PROCESS_TIMEOUT_MS },
  );
  const records = log.lines.filter(Boolean).map((line) => JSON.parse(line));
  const start = records.find((record) => record.event === "start");
  assert.ok(start, "a start record");
  assert.equal(start.deno, Deno.version.deno);
  assert.equal(start.maxMessageBytes, DEFAULT_CONFIG.maxMessageBytes);
  assert.equal(start.pingIntervalSeconds, DEFAULT_CONFIG.pingIntervalSeconds);
  assert.equal(start.denoDeploy, false);
  assert.equal(start.port, service.port, "the port picked for PORT=0");
  const close = records.find((record) => record.event === "ws_close");
  assert.ok(!Number.isNaN(Date.parse(close.time)), `time: ${close.time}`);
  assert.equal(close.ip, "127.0.0.1");
  assert.equal(close.code, 1005);
  assert.equal(typeof close.id, "string");
  assert.equal(typeof close.reason, "string");
  assert.equal(typeof close.durationMs, "number");
  assert.equal(close.messages, 2);
  assert.equal(close.bytesIn, 6);
  assert.equal(close.bytesOut, 6);
});

Deno.test("the text log's second line names Deno's version and the settings in force", async () => {
  await using service = await startService({
    ...LOOPBACK,
    MAX_MESSAGE_BYTES: "2048",
  });
  const log = readServiceLog(service);
  await until(
    () => log.lines.some((line) => line.startsWith("start ")),
    "the start line",
    { timeoutMs: DEFAULT_PROCESS_TIMEOUT_MS },
  );
  const line = log.lines.find((line) => line.startsWith("start "))!;
  assert.match(
    line,
    new RegExp(`deno=${Deno.version.deno.replaceAll(".", "\\.")} `),
  );
  assert.match(line, / mode=run /);
  assert.match(line, / max_message_bytes=2048 /);
  assert.match(line, / ping_interval_seconds=30 /);
});

Deno.test("startRecord() lists every setting, under deno serve the port too but not the TLS files Deno reads", () => {
  const run = startRecord(DEFAULT_CONFIG, { denoDeploy: false, mode: "run" });
  for (const key of Object.keys(DEFAULT_CONFIG)) {
    assert.ok(key in run, key);
  }
  assert.equal(run.allowedOrigins, "*");
  const serve = startRecord(DEFAULT_CONFIG, {
    denoDeploy: true,
    mode: "serve",
  });
  assert.equal(serve.port, DEFAULT_CONFIG.port);
  assert.equal("tlsCertFile" in serve, false);
  assert.equal(serve.denoDeploy, true);
});

Deno.test("the start line says whether the kernel's count is on; without ss on PATH nothing of Deno's reaches stderr", async (t) => {
  const startLine = async (env: Record<string, string>) => {
    await using service = await startService({ ...LOOPBACK, ...env });
    const stderr = new Response(service.child.stderr).text();
    const log = readServiceLog(service);
    await until(
      () => log.lines.some((line) => line.startsWith("start ")),
      "the start line",
      { timeoutMs: DEFAULT_PROCESS_TIMEOUT_MS },
    );
    service.child.kill("SIGTERM");
    return {
      line: log.lines.find((line) => line.startsWith("start "))!,
      stderr: await withDeadline(stderr, DEFAULT_PROCESS_TIMEOUT_MS, "stderr"),
    };
  };
  await t.step("no PATH: off, in one field of our own", async () => {
    const { line, stderr } = await startLine({});
    assert.match(
      line,
      / kernel_counts="off: ss \(iproute2\) is not on PATH or not permitted, so the overload watch judges attackers by timing alone"/,
    );
    assert.equal(stderr, "");
  });
  await t.step({
    name: "ss on PATH: on",
    ignore: !hasSs(),
    fn: async () => {
      const { line } = await startLine({ PATH: Deno.env.get("PATH") ?? "" });
      assert.match(line, / kernel_counts=ss( |$)/);
    },
  });
});

Deno.test("TRUST_PROXY while listening on every interface: one warning line at start-up; none on loopback", async () => {
  // bootService logs without listening: nothing binds every interface here.
  const boot = (env: Record<string, string>) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        "--quiet",
        `import { bootService } from "./lib/start/startup.ts";
         import { createApp } from "./routes/app.ts";
         const { output } = bootService((name) => Deno.env.get(name), { mode: "run", createApp });
         output.flush();
         Deno.exit(0);`,
      ],
      cwd: ROOT,
      clearEnv: true,
      env: { LOG_FORMAT: "json", PATH: Deno.env.get("PATH") ?? "", ...env },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(DEFAULT_PROCESS_TIMEOUT_MS),
    }).output();
  const warnings = async (env: Record<string, string>) => {
    const output = await boot(env);
    const text = new TextDecoder().decode(output.stdout);
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    return text.split("\n").filter(Boolean).map((line) => JSON.parse(line))
      .filter((record) => record.event === "warning");
  };
  const [warning, ...more] = await warnings({ TRUST_PROXY: "1" });
  assert.deepEqual(more, []);
  assert.match(
    warning!.message,
    /^TRUST_PROXY=1 while listening on every interface/,
  );
  assert.match(warning!.message, /forge X-Forwarded-For/);
  assert.deepEqual(
    await warnings({ TRUST_PROXY: "1", BIND_ADDRESS: "127.0.0.1" }),
    [],
  );
});
