import assert from "node:assert/strict";
import { DEFAULT_CONFIG, SETTINGS } from "../../lib/config.ts";
import {
  applyPlatformDefaults,
  DENO_DEPLOY_PING_INTERVAL_SECONDS,
} from "../../lib/start/effective_config.ts";
import { startRecord } from "../../lib/start/start_record.ts";
import { serveHost } from "../../lib/start/startup.ts";
import { INSTRUMENTS } from "../../lib/telemetry.ts";
import {
  DEFAULT_PROCESS_TIMEOUT_MS,
  ROOT,
  startService,
  startTaskArgs,
  waitForExit,
} from "../_server.ts";
import { closeAndWait, connect, until, withDeadline } from "../_client.ts";

const LOOPBACK = { PORT: "0", BIND_ADDRESS: "127.0.0.1" };

/** Reads stdout lines until `found` returns true for one; every read has a deadline. */
async function readLinesUntil(
  stdout: ReadableStreamDefaultReader<string>,
  found: (line: string, all: string[]) => boolean,
  what: string,
  already: string[] = [],
  timeoutMs = DEFAULT_PROCESS_TIMEOUT_MS,
): Promise<string[]> {
  const lines = [...already];
  let rest = "";
  await withDeadline(
    (async () => {
      if (lines.some((line) => found(line, lines))) return;
      while (true) {
        const { value, done } = await stdout.read();
        if (done) throw new Error(`stdout ended before ${what}`);
        const parts = (rest + value).split("\n");
        rest = parts.pop()!;
        for (const line of parts) {
          lines.push(line);
          if (found(line, lines)) return;
        }
      }
    })(),
    timeoutMs,
    what,
  );
  return lines;
}

Deno.test("with OTEL_DENO=true every ws_echo. instrument reaches an OTLP/HTTP receiver", async () => {
  // Each body is decoded once, on arrival: decoding them all at every check
  // kept this process (and the receiver in it) busy for 385 ms a check.
  const latin1 = new TextDecoder("latin1");
  let exported = "";
  const receiver = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      const path = new URL(request.url).pathname;
      const body = new Uint8Array(await request.arrayBuffer());
      if (request.method === "POST" && path === "/v1/metrics") {
        exported += latin1.decode(body);
      }
      return new Response(null, { status: 200 });
    },
  );
  let receiving: Promise<void> | undefined;
  const stopReceiver = () => receiving ??= receiver.shutdown();
  try {
    await using service = await startService({
      ...LOOPBACK,
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.addr.port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
      OTEL_METRIC_EXPORT_INTERVAL: "200",
    });
    const url = `ws://127.0.0.1:${service.port}`;
    // A refusal, so ws_echo.refusals has a point: a subprotocol list that is malformed.
    const refused = await fetch(`http://127.0.0.1:${service.port}/echo`, {
      headers: {
        upgrade: "websocket",
        connection: "Upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
        "sec-websocket-protocol": "a b",
      },
    });
    await refused.body?.cancel();
    assert.equal(refused.status, 400);
    const { socket, inbox } = await connect(`${url}/echo`);
    socket.send("hello");
    assert.equal(await inbox.next(), "hello");
    await closeAndWait(socket, inbox);
    // Exceeding MAX_MESSAGE_BYTES is a limit breach.
    const big = await connect(`${url}/echo?close_after=1`);
    big.socket.send("x".repeat(2 * 1024 * 1024));
    assert.equal((await big.inbox.closed()).code, 1009);
    await until(
      () => INSTRUMENTS.every(({ name }) => exported.includes(name)),
      "every ws_echo. instrument in the exported metrics",
      { timeoutMs: 10_000 },
    ).catch((error) => {
      const missing = INSTRUMENTS.map(({ name }) => name).filter((name) =>
        !exported.includes(name)
      );
      throw new Error(`${error.message}; missing ${missing.join(", ")}`);
    });
    for (const unit of ["{connection}", "{message}", "By"]) {
      assert.ok(exported.includes(unit), `unit ${unit} exported`);
    }
    // The receiver stops before the service: Deno 2.9.6's exit can wait
    // forever on an export still in flight when the next one falls due
    // (DenoPeriodicReader in Deno's ext/telemetry/lib.rs then waits for the
    // JS thread, blocked in Deno.exit, to observe); with no receiver,
    // exports fail at once.
    await stopReceiver();
  } finally {
    await stopReceiver();
  }
});

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
  const lines = await readLinesUntil(
    service.stdout,
    (line) => line.includes('"ws_close"'),
    "the ws_close line",
  );
  const records = lines.filter(Boolean).map((line) => JSON.parse(line));
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
  const lines = await readLinesUntil(
    service.stdout,
    (line) => line.startsWith("start "),
    "the start line",
  );
  const line = lines.find((line) => line.startsWith("start "))!;
  assert.match(
    line,
    new RegExp(`deno=${Deno.version.deno.replaceAll(".", "\\.")} `),
  );
  assert.match(line, / mode=run /);
  assert.match(line, / max_message_bytes=2048 /);
  assert.match(line, / ping_interval_seconds=30 /);
});

Deno.test("on Deno Deploy the keepalive default is short, /limits shows it, and a set variable wins", async (t) => {
  await t.step("applyPlatformDefaults()", () => {
    const env = (vars: Record<string, string>) => (name: string) => vars[name];
    assert.equal(
      applyPlatformDefaults(DEFAULT_CONFIG, { denoDeploy: false, env: env({}) })
        .pingIntervalSeconds,
      30,
    );
    assert.equal(
      applyPlatformDefaults(DEFAULT_CONFIG, { denoDeploy: true, env: env({}) })
        .pingIntervalSeconds,
      DENO_DEPLOY_PING_INTERVAL_SECONDS,
    );
    const set = { ...DEFAULT_CONFIG, pingIntervalSeconds: 30 };
    assert.equal(
      applyPlatformDefaults(set, {
        denoDeploy: true,
        env: env({ PING_INTERVAL_SECONDS: "30" }),
      }).pingIntervalSeconds,
      30,
    );
    // Deploy's idle floor is 5 s; Deno pings after half the interval.
    assert.ok(DENO_DEPLOY_PING_INTERVAL_SECONDS / 2 < 5);
  });
  for (
    const [env, expected] of [
      [{ DENO_DEPLOY: "true" }, DENO_DEPLOY_PING_INTERVAL_SECONDS],
      [{ DENO_REGION: "gcp-europe-west3", DENO_DEPLOYMENT_ID: "abc" }, 8],
      [{ DENO_DEPLOY: "true", PING_INTERVAL_SECONDS: "30" }, 30],
    ] as const
  ) {
    await t.step(
      `${JSON.stringify(env)}: /limits says ${expected}`,
      async () => {
        await using service = await startService({ ...LOOPBACK, ...env });
        const response = await fetch(`http://127.0.0.1:${service.port}/limits`);
        const { limits } = await response.json();
        assert.equal(limits.pingIntervalSeconds.value, expected);
        assert.equal(limits.pingIntervalSeconds.default, 30);
      },
    );
  }
});

Deno.test("deno task serve runs two workers on PORT, IPv4 and IPv6, that echo, answer /healthz, and close 1001 on SIGTERM", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  // `deno task` starts deno serve as its own child: setsid makes the task a
  // process group the test can kill whole, so no server outlives the test
  // holding its pipes open.
  const child = new Deno.Command("setsid", {
    args: [Deno.execPath(), "task", "--quiet", "serve"],
    cwd: ROOT,
    env: { NO_COLOR: "1", PORT: String(port), DENO_JOBS: "2" },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    const lines = await readLinesUntil(
      stdout,
      (_, all) =>
        all.some((line) => line.startsWith("ws-echo: page")) &&
        all.filter((line) => line.startsWith("start ")).length === 2,
      "the page line and a start line from each of two workers",
      [],
      // Two workers, each loading the service, on a busy machine.
      2 * DEFAULT_PROCESS_TIMEOUT_MS,
    ).catch(async (error) => {
      killGroup(child);
      throw new Error(`${error.message}; stderr: ${await stderr}`);
    });
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
  } finally {
    killGroup(child);
    await stdout.cancel();
    await child.status;
  }
  const errors = (await stderr).split("\n").filter((line) =>
    line && !line.startsWith("Task ")
  );
  assert.deepEqual(errors, []);
});

/** The flags of a command line, as `deno task start` gives them after `deno`. */
function words(commandLine: string): string[] {
  return commandLine.trim().split(/\s+/);
}

Deno.test("the container and the systemd unit run with exactly the start task's flags", async (t) => {
  const start = await startTaskArgs();
  const denoJson = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  const maxGrace = Number(SETTINGS.SHUTDOWN_GRACE_SECONDS.range.split("-")[1]);

  await t.step("deno task serve", () => {
    const serve = words(denoJson.tasks.serve);
    const flags = (args: string[]) =>
      args.filter((arg) => /^(-P|--permission-set|--allow-|--deny-)/.test(arg));
    assert.deepEqual(flags(serve), flags(start));
    assert.equal(serve.at(-1), "dist/serve.js");
    assert.match(denoJson.tasks.serve, /deno task -q bundle && deno serve /);
    assert.ok(serve.includes("--parallel"));
  });

  await t.step("deploy/Dockerfile", async () => {
    const dockerfile = await Deno.readTextFile(`${ROOT}/deploy/Dockerfile`);
    const lines = dockerfile.replaceAll("\\\n", " ").split("\n");
    const from = lines.find((line) => line.startsWith("FROM "));
    assert.match(from!, /^FROM denoland\/deno:(debian-)?2(\.\d+)*$/);
    const cmd = lines.findLast((line) => line.startsWith("CMD "))!;
    assert.deepEqual(JSON.parse(cmd.slice(4)), start);
    assert.ok(
      lines.indexOf("RUN deno task bundle") > lines.indexOf("COPY lib/ lib/"),
      "the image builds the bundle CMD runs from the sources it copied",
    );
    const user = lines.findLast((line) => line.startsWith("USER "));
    assert.ok(user && !/root|^USER 0/.test(user), `non-root: ${user}`);
    const health = lines.find((line) => line.startsWith("HEALTHCHECK "))!;
    assert.match(health, /\/healthz/);
    assert.match(dockerfile, /--ulimit nofile=65536:65536/);
    const compose = await Deno.readTextFile(`${ROOT}/deploy/compose.yaml`);
    assert.match(compose, /nofile:\s+soft: 65536\s+hard: 65536/);
  });

  await t.step(
    "the Dockerfile's HEALTHCHECK command passes against the service",
    async () => {
      const dockerfile = await Deno.readTextFile(`${ROOT}/deploy/Dockerfile`);
      const health = dockerfile.replaceAll("\\\n", " ").split("\n")
        .find((line) => line.startsWith("HEALTHCHECK "))!;
      const [command, ...args] = JSON.parse(health.slice(health.indexOf("[")));
      assert.equal(command, "deno");
      await using service = await startService({ PORT: "0" });
      const run = (port: number) =>
        new Deno.Command(Deno.execPath(), {
          args,
          env: { PORT: String(port), NO_COLOR: "1" },
          stdout: "null",
          stderr: "null",
        }).output();
      assert.equal((await run(service.port)).code, 0);
      const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const unused = closed.addr.port;
      closed.close();
      assert.notEqual((await run(unused)).code, 0);
    },
  );

  await t.step("deploy/ws-echo.service", async () => {
    const unit = await Deno.readTextFile(`${ROOT}/deploy/ws-echo.service`);
    const value = (key: string) =>
      unit.match(new RegExp(`^${key}=(.*)$`, "m"))?.[1];
    const [deno, ...args] = words(value("ExecStart")!);
    assert.match(deno!, /\/deno$/);
    assert.deepEqual(args, start);
    assert.equal(
      value("ExecStartPre"),
      "/usr/bin/deno run -q -P=bundle deploy/bundle.ts --check",
      "refuses a stale bundle",
    );
    assert.ok(Number(value("LimitNOFILE")) > DEFAULT_CONFIG.maxConnections);
    assert.equal(value("Restart"), "on-failure");
    assert.equal(value("EnvironmentFile"), "-/etc/ws-echo.env");
    assert.equal(value("KillSignal"), "SIGTERM");
    assert.ok(
      Number(value("TimeoutStopSec")) > 2 * maxGrace,
      `TimeoutStopSec above twice the largest SHUTDOWN_GRACE_SECONDS (${maxGrace})`,
    );
    assert.ok(
      value("DynamicUser") === "yes" || value("User") !== undefined,
      "an unprivileged user",
    );
  });

  const systemdAnalyze = onPath("systemd-analyze");
  await t.step({
    name: systemdAnalyze
      ? "systemd-analyze verify accepts the unit"
      : "systemd-analyze verify accepts the unit (ignored: systemd-analyze is not on PATH)",
    ignore: systemdAnalyze === undefined,
    fn: async () => {
      const output = await new Deno.Command(systemdAnalyze!, {
        args: ["verify", `${ROOT}/deploy/ws-echo.service`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(output.stderr);
      assert.equal(output.code, 0, stderr);
      assert.doesNotMatch(stderr, /ws-echo\.service/);
    },
  });
});

/** Kills every process of `child`'s process group (started with setsid). */
function killGroup(child: Deno.ChildProcess): void {
  try {
    Deno.kill(-child.pid, "SIGKILL");
  } catch {
    // The whole group has exited.
  }
}

/** The path of `command` in a PATH folder, or undefined when none has it. */
function onPath(command: string): string | undefined {
  for (const folder of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!folder) continue;
    try {
      const path = `${folder}/${command}`;
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // Not in this folder.
    }
  }
  return undefined;
}

Deno.test("the deploy block of deno.json has only keys Deno's config schema allows", async () => {
  // From cli/schemas/config-file.v1.json in denoland/deno ("deploy",
  // additionalProperties: false at both levels).
  const DEPLOY_KEYS = [
    "org",
    "app",
    "framework",
    "install",
    "build",
    "predeploy",
    "runtime",
    "include",
    "exclude",
  ];
  const RUNTIME_KEYS = ["mode", "entrypoint", "args", "cwd", "spa"];
  const { deploy } = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  for (const key of Object.keys(deploy)) {
    assert.ok(DEPLOY_KEYS.includes(key), key);
  }
  for (const key of Object.keys(deploy.runtime)) {
    assert.ok(RUNTIME_KEYS.includes(key), `runtime.${key}`);
  }
  assert.equal(deploy.runtime.mode, "dynamic");
  assert.equal(deploy.runtime.entrypoint, "dist/main.js");
  assert.equal(deploy.build, "deno task bundle");
  for (const path of [...deploy.include, ...deploy.exclude]) {
    assert.equal(typeof path, "string");
  }
  // What the bundle is built from must be uploaded.
  for (
    const needed of [
      "main.ts",
      "serve.ts",
      "lib/",
      "routes/",
      "static/",
      "deno.json",
      "deno.lock",
      "deploy/bundle.ts",
    ]
  ) {
    assert.ok(deploy.include.includes(needed), needed);
  }
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

Deno.test("the README documents every OpenTelemetry instrument next to its Prometheus name", async () => {
  const readme = await Deno.readTextFile(`${ROOT}/README.md`);
  for (const { name, unit, prometheus } of INSTRUMENTS) {
    const row = readme.split("\n").find((line) =>
      line.startsWith(`| \`${name}\``)
    );
    assert.ok(row, `README row for ${name}`);
    assert.ok(row.includes(`\`${unit}\``), `${name} unit ${unit}`);
    assert.ok(row.includes(prometheus), `${name} next to ${prometheus}`);
  }
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

Deno.test("serveHost() gives deno serve BIND_ADDRESS, or [::] for both IPv6 and IPv4", () => {
  assert.equal(serveHost({ bindAddress: undefined }, () => true), "[::]");
  assert.equal(serveHost({ bindAddress: undefined }, () => false), "0.0.0.0");
  assert.equal(serveHost({ bindAddress: "127.0.0.1" }), "127.0.0.1");
  assert.equal(serveHost({ bindAddress: "::1" }), "[::1]");
  assert.equal(serveHost({ bindAddress: "echo.example" }), "echo.example");
});
