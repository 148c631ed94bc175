/**
 * MAX_CONNECTIONS fitted to the open-file limit: `prlimit`'s answer, the cap
 * learned after start-up (`learned_cap.ts`), and the service under `prlimit
 * --nofile=128:128`, with `--allow-all` (the limit read from /proc at
 * start-up) and with the start task's own permissions (learned from
 * `prlimit`), where newcomers past the cap get `503` and `/healthz` answers.
 */
import assert from "node:assert/strict";
import {
  askPrlimit,
  OUT_OF_DESCRIPTORS,
  parsePrlimit,
} from "../../lib/start/prlimit.ts";
import { learnCap } from "../../lib/start/learned_cap.ts";
import { DescriptorReserve } from "../../lib/start/descriptor_reserve.ts";
import { createApp } from "../../routes/app.ts";
import {
  type OpenFileLimit,
  readOpenFileLimit,
} from "../../lib/start/fd_limit.ts";
import { ConnectionRegistry } from "../../lib/admission/slots.ts";
import { Metrics } from "../../lib/metrics.ts";
import { DEFAULT_CONFIG } from "../../lib/config.ts";
import { startTaskArgs } from "../_server.ts";
import { until } from "../_client.ts";
import { spawnLimited } from "../_limited.ts";
import {
  readResponse,
  upgradeRequest,
  withDeadline,
  writeAll,
} from "../../bench/wire.ts";

Deno.test("parsePrlimit() reads prlimit's raw soft and hard limits", async (t) => {
  await t.step("two counts", () => {
    assert.deepEqual(parsePrlimit("1024 524288\n"), {
      soft: 1024,
      hard: 524288,
    });
  });
  await t.step("unlimited is Infinity", () => {
    assert.deepEqual(parsePrlimit("unlimited unlimited\n"), {
      soft: Infinity,
      hard: Infinity,
    });
  });
  await t.step("anything else is undefined", () => {
    for (
      const text of [
        "",
        "1024\n",
        "1024 1024 1024\n",
        "SOFT HARD\n1024 1024\n",
        "-1 1024\n",
        "lots 1024\n",
        "prlimit: failed to get the NOFILE resource limit\n",
      ]
    ) assert.equal(parsePrlimit(text), undefined, JSON.stringify(text));
  });
});

Deno.test("askPrlimit() states this process's limit, or unknown", async (t) => {
  await t.step({
    name: "on Linux, what /proc/self/limits says",
    ignore: Deno.build.os !== "linux",
    fn: async () => {
      assert.deepEqual(await askPrlimit(), readOpenFileLimit());
    },
  });
  await t.step({
    name: "spawned with the descriptors held for ss lent: the same answer",
    ignore: Deno.build.os !== "linux",
    fn: async () => {
      const reserve = new DescriptorReserve(8);
      try {
        assert.deepEqual(await askPrlimit({ reserve }), readOpenFileLimit());
        assert.equal(reserve.held, 8, "held again after the spawn");
      } finally {
        reserve.release();
      }
    },
  });
  await t.step("off Linux, or without the program: unknown", async () => {
    assert.equal(await askPrlimit({ os: "darwin" }), "unknown");
    assert.equal(
      await askPrlimit({ command: "ws-echo-no-such-program" }),
      "unknown",
    );
  });
});

/** The services `learnCap` changes, with a registry capped at `maxTotal`. */
function capped(maxConnections: number) {
  const config = { ...DEFAULT_CONFIG, maxConnections };
  const registry = new ConnectionRegistry({ maxPerIp: 0, maxTotal: 0 });
  registry.maxTotal = maxConnections;
  return { config, registry, metrics: new Metrics() };
}

Deno.test("learnCap() lowers the cap in force when the learned limit cannot hold it", async (t) => {
  const limit = (soft: number) => () => Promise.resolve({ soft, hard: soft });
  await t.step("a limit of 128: 58 connections, the 59th refused", async () => {
    const services = capped(10_000);
    const warning = await learnCap(services, {
      workers: 1,
      known: "unknown",
      ask: limit(128),
      delayMs: 0,
    });
    assert.equal(
      warning,
      "ws-echo: MAX_CONNECTIONS lowered from 10000 to 58: the open-file limit is 128 (raise it with ulimit -n or LimitNOFILE=)",
    );
    assert.equal(services.config.maxConnections, 58);
    assert.equal(services.registry.maxTotal, 58);
    assert.equal(services.metrics.descriptorLimit, 128);
    for (let i = 0; i < 58; i++) {
      assert.equal(services.registry.noSlotFor(`10.0.0.${i}`), undefined);
      assert.notEqual(typeof services.registry.admit(`10.0.0.${i}`), "string");
    }
    assert.equal(services.registry.noSlotFor("10.0.1.1"), "total");
    services.registry.dispose();
  });
  await t.step("workers of one process share the limit", async () => {
    const services = capped(10_000);
    const warning = await learnCap(services, {
      workers: 2,
      known: "unknown",
      ask: limit(1024),
      delayMs: 0,
    });
    assert.match(warning ?? "", /to 320 per worker \(2 workers\)/);
    assert.equal(services.config.maxConnections, 320);
    services.registry.dispose();
  });
  await t.step(
    "a limit that holds MAX_CONNECTIONS changes nothing but the gauge",
    async () => {
      const services = capped(100);
      const options = { workers: 1, known: "unknown", delayMs: 0 } as const;
      assert.equal(
        await learnCap(services, { ...options, ask: limit(1024) }),
        undefined,
      );
      assert.equal(services.config.maxConnections, 100);
      assert.equal(services.registry.maxTotal, 100);
      assert.equal(services.metrics.descriptorLimit, 1024);
      services.registry.dispose();
    },
  );
  await t.step(
    "a spawn out of descriptors is asked again until prlimit answers",
    async () => {
      const services = capped(10_000);
      const answers: (() => Promise<
        OpenFileLimit | typeof OUT_OF_DESCRIPTORS
      >)[] = [
        () => Promise.resolve(OUT_OF_DESCRIPTORS),
        () =>
          Promise.reject(
            new Error("Too many open files (os error 24)"),
          ),
        limit(128),
      ];
      let asked = 0;
      const warning = await learnCap(services, {
        workers: 1,
        known: "unknown",
        ask: () => answers[asked++]!(),
        delayMs: 0,
        retryMs: 0,
      });
      assert.equal(asked, 3);
      assert.match(warning ?? "", /lowered from 10000 to 58/);
      assert.equal(services.config.maxConnections, 58);
      assert.equal(services.registry.maxTotal, 58);
      services.registry.dispose();
    },
  );
  await t.step(
    "out of descriptors past the deadline: the cap stays as set",
    async () => {
      const services = capped(10_000);
      let asked = 0;
      const warning = await learnCap(services, {
        workers: 1,
        known: "unknown",
        ask: () => {
          asked++;
          return Promise.resolve(OUT_OF_DESCRIPTORS);
        },
        delayMs: 0,
        retryMs: 0,
        deadlineMs: 0,
      });
      assert.equal(warning, undefined);
      assert.equal(asked, 1);
      assert.equal(services.config.maxConnections, 10_000);
      services.registry.dispose();
    },
  );
  await t.step(
    "a stop ends the first wait and the retries at once, and nothing more is asked",
    async () => {
      const services = capped(10_000);
      let asked = 0;
      // A SIGTERM in the first 500 ms waited for the ask, and during an
      // attack for 60 s of retries (review stop35 F-J).
      const stopInWait = new AbortController();
      const waiting = learnCap(services, {
        workers: 1,
        known: "unknown",
        ask: limit(128),
        delayMs: 60_000,
        signal: stopInWait.signal,
      });
      stopInWait.abort();
      assert.equal(
        await withDeadline(waiting, 5000, "learnCap stopped in its first wait"),
        undefined,
      );
      const stopInRetries = new AbortController();
      const retrying = learnCap(services, {
        workers: 1,
        known: "unknown",
        ask: () => {
          asked++;
          stopInRetries.abort();
          return Promise.resolve(OUT_OF_DESCRIPTORS);
        },
        delayMs: 0,
        retryMs: 60_000,
        deadlineMs: 60_000,
        signal: stopInRetries.signal,
      });
      assert.equal(
        await withDeadline(retrying, 5000, "learnCap stopped in its retries"),
        undefined,
      );
      assert.equal(asked, 1);
      assert.equal(services.config.maxConnections, 10_000);
      assert.equal(services.registry.maxTotal, 10_000);
      services.registry.dispose();
    },
  );
  await t.step({
    name:
      "asking prlimit queries Deno's run permission once, not again per ask",
    ignore: Deno.build.os !== "linux",
    fn: async () => {
      const services = capped(10_000);
      const permissions = Deno.permissions;
      const querySync = permissions.querySync;
      const queried: string[] = [];
      permissions.querySync = (descriptor) => {
        queried.push(descriptor.name);
        return querySync.call(permissions, descriptor);
      };
      try {
        await learnCap(services, { workers: 1, known: "unknown", delayMs: 0 });
      } finally {
        permissions.querySync = querySync;
        services.registry.dispose();
      }
      assert.deepEqual(queried, ["run"]);
      // prlimit answered: the limit was learned by the one ask.
      const limit = readOpenFileLimit();
      if (limit === "unknown") assert.fail("no limit in /proc/self/limits");
      assert.equal(services.metrics.descriptorLimit, limit.soft);
    },
  });
  await t.step(
    "/limits asked before the cap is learned shows the lowered cap",
    async () => {
      const { app, services } = createApp(
        { ...DEFAULT_CONFIG },
        { log: () => {} },
      );
      const maxConnections = async () => {
        const response = await app.request("/limits");
        assert.equal(response.status, 200);
        return (await response.json()).limits.maxConnections.value;
      };
      try {
        assert.equal(await maxConnections(), 10_000);
        await learnCap(services, {
          workers: 1,
          known: "unknown",
          ask: limit(128),
          delayMs: 0,
        });
        assert.equal(await maxConnections(), 58);
      } finally {
        services.memory.dispose();
        services.registry.dispose();
      }
    },
  );
  await t.step(
    "known at start-up, unknown, or not askable: nothing is asked or changed",
    async () => {
      const services = capped(10_000);
      let asked = 0;
      const ask = () => {
        asked++;
        return Promise.resolve({ soft: 128, hard: 128 });
      };
      const known = { soft: 20_000, hard: 20_000 };
      assert.equal(
        await learnCap(services, { workers: 1, known, ask, delayMs: 0 }),
        undefined,
      );
      assert.equal(asked, 0);
      const unknown = () => Promise.resolve("unknown" as const);
      const failing = () => Promise.reject(new Error("Cannot spawn prlimit"));
      for (const ask of [unknown, failing, undefined]) {
        assert.equal(
          await learnCap(services, {
            workers: 1,
            known: "unknown",
            ask,
            delayMs: 0,
          }),
          undefined,
        );
      }
      assert.equal(services.config.maxConnections, 10_000);
      assert.equal(services.registry.maxTotal, 10_000);
      assert.equal(services.metrics.descriptorLimit, undefined);
      services.registry.dispose();
    },
  );
});

/** A new connection with `request` written on it; the caller closes it. */
async function sent(port: number, request: string): Promise<Deno.TcpConn> {
  const conn = await withDeadline(
    Deno.connect({ hostname: "127.0.0.1", port }),
    5000,
    "connect",
  );
  try {
    await writeAll(conn, new TextEncoder().encode(request));
    return conn;
  } catch (error) {
    conn.close();
    throw error;
  }
}

/** Sends one GET on a fresh connection; its status and Retry-After. */
async function get(port: number, request: string) {
  const conn = await sent(port, request);
  try {
    const response = await readResponse(conn, { timeoutMs: 5000 });
    return {
      status: response.status,
      retryAfter: response.headers.get("retry-after"),
    };
  } finally {
    conn.close();
  }
}

/**
 * Sends `request` on a new connection and reads until the server closes
 * it: a refusal at a limit that bounds the cap is closed once answered,
 * not kept for the client's next request (`admission/refuse.ts`).
 *
 * @throws {Deno.errors.TimedOut} When the connection is still open after
 * 5 s.
 */
async function untilClosed(port: number, request: string): Promise<string> {
  const conn = await sent(port, request);
  try {
    const read = async () => {
      const buffer = new Uint8Array(4096);
      let text = "";
      for (let n; (n = await conn.read(buffer)) !== null;) {
        text += new TextDecoder().decode(buffer.subarray(0, n));
      }
      return text;
    };
    return await withDeadline(read(), 5000, "the server's close");
  } finally {
    conn.close();
  }
}

/**
 * Under `prlimit --nofile=128:128` with `args`: the warning line and the
 * start line name the cap of 58; 58 WebSockets are held, and a newcomer
 * gets 503 with Retry-After, its connection closed once answered, while
 * `/healthz` answers 200.
 */
async function capsAt58(args: string[]): Promise<void> {
  await using child = await spawnLimited(128, args, {
    // PATH: `prlimit` is found on it, as in a shell, systemd or Docker.
    env: { MAX_CONNECTIONS_PER_IP: "0", PATH: Deno.env.get("PATH") ?? "" },
  });
  await until(
    () => /^start /m.test(child.stdout()) && child.stderr().endsWith("\n"),
    "the start line and the warning",
    { timeoutMs: 15_000 },
  );
  assert.equal(
    child.stderr(),
    "ws-echo: MAX_CONNECTIONS lowered from 10000 to 58: the open-file limit is 128 (raise it with ulimit -n or LimitNOFILE=)\n",
  );
  assert.match(child.stdout(), /^start .* max_connections=58 /m);
  const held: Deno.Conn[] = [];
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 58; i++) {
      const conn = await withDeadline(
        Deno.connect({ hostname: "127.0.0.1", port: child.port }),
        5000,
        "connect",
      );
      held.push(conn);
      await writeAll(conn, new TextEncoder().encode(upgradeRequest()));
      statuses.push((await readResponse(conn, { timeoutMs: 5000 })).status);
    }
    assert.deepEqual(new Set(statuses), new Set([101]), "58 held");
    const newcomer = await get(child.port, upgradeRequest());
    assert.equal(newcomer.status, 503, "the newcomer past the cap");
    assert.ok(Number(newcomer.retryAfter) > 0, "with Retry-After");
    const answered = await untilClosed(child.port, upgradeRequest());
    assert.match(
      answered,
      /^HTTP\/1\.1 503 [^]*Server full: 58 connections open/,
      "the server closes a refused connection once answered, the text sent",
    );
    const health = await get(
      child.port,
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert.equal(health.status, 200, "/healthz");
    assert.equal(child.exited(), false);
    assert.doesNotMatch(child.stdout(), /accept failed/);
  } finally {
    for (const conn of held) conn.close();
  }
}

Deno.test({
  name:
    "under prlimit --nofile=128:128 MAX_CONNECTIONS is lowered to 58: the 59th WebSocket gets 503 and /healthz answers",
  ignore: Deno.build.os !== "linux",
  async fn(t) {
    const task = await startTaskArgs();
    await t.step("with the start task's permissions (prlimit)", async () => {
      await capsAt58(task);
    });
    await t.step("with --allow-all (/proc/self/limits)", async () => {
      const args = task.filter((arg) => !/^(-P|--allow-)/.test(arg));
      args.splice(1, 0, "-A");
      await capsAt58(args);
    });
  },
});
