/**
 * The deploy files run the service the way the start task does: the
 * container, the systemd unit, and deno.json's deploy block.
 */
import assert from "node:assert/strict";
import { DEFAULT_CONFIG, SETTINGS } from "../../lib/config.ts";
import { ROOT, startService, startTaskArgs } from "../_server.ts";

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
    // `ss` needs netlink to count (else it reads /proc: no counts), and
    // CAP_NET_ADMIN, and nothing more, to abort.
    assert.match(value("RestrictAddressFamilies")!, /\bAF_NETLINK\b/);
    assert.equal(value("AmbientCapabilities"), "CAP_NET_ADMIN");
    assert.equal(value("CapabilityBoundingSet"), "CAP_NET_ADMIN");
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
