import assert from "node:assert/strict";
import {
  ConfigError,
  DEFAULT_CONFIG,
  ENV_NAMES,
  parseConfig,
  PLATFORM_ENV_NAMES,
  type Setting,
  SETTINGS,
} from "../lib/config.ts";
import { describeLimits } from "../lib/http/limits_report.ts";
import { ROOT, startTaskArgs } from "./_server.ts";

Deno.test("parseConfig() defaults are safe for a public endpoint", () => {
  assert.equal(DEFAULT_CONFIG.port, 9998);
  assert.equal(DEFAULT_CONFIG.bindAddress, undefined, "both IPv6 and IPv4");
  assert.equal(DEFAULT_CONFIG.maxMessageBytes, 1024 * 1024);
  assert.equal(DEFAULT_CONFIG.maxBufferedBytes, 4 * 1024 * 1024);
  assert.equal(DEFAULT_CONFIG.maxConnectionsPerIp, 32);
  assert.equal(DEFAULT_CONFIG.maxConnections, 10_000);
  assert.equal(DEFAULT_CONFIG.idleTimeoutSeconds, 300);
  assert.equal(DEFAULT_CONFIG.sseLifetimeSeconds, 300);
  assert.equal(DEFAULT_CONFIG.trustProxy, 0);
  assert.equal(DEFAULT_CONFIG.allowedOrigins, "*");
  assert.equal(DEFAULT_CONFIG.tlsCertFile, undefined);
  assert.equal(DEFAULT_CONFIG.tlsKeyFile, undefined);
  assert.equal(DEFAULT_CONFIG.ipv6PrefixLength, 64);
  assert.equal(DEFAULT_CONFIG.memoryBudgetBytes, 96 * 1024 * 1024);
  assert.equal(DEFAULT_CONFIG.maxRssBytes, 400 * 1024 * 1024);
  assert.equal(DEFAULT_CONFIG.logFormat, "text");
});

Deno.test("parseConfig() reads numbers in their unit, 0 as off, TRUST_PROXY=true as 1 and an origin list", () => {
  const config = parseConfig({
    PORT: "8080",
    MAX_MESSAGE_BYTES: "0",
    RATE_LIMIT_MESSAGES_PER_SECOND: "10",
    TRUST_PROXY: "true",
    ALLOWED_ORIGINS: "https://a.example, http://localhost:3000",
  });
  assert.equal(config.port, 8080);
  assert.equal(config.maxMessageBytes, 0);
  assert.equal(config.rateLimitMessagesPerSecond, 10);
  assert.equal(config.trustProxy, 1, "true is the old spelling of 1");
  assert.deepEqual(config.allowedOrigins, [
    "https://a.example",
    "http://localhost:3000",
  ]);
});

Deno.test("parseConfig() rejects a bad value of the variables below, naming the variable", async (t) => {
  const bad: Record<string, string> = {
    PORT: "65536",
    BIND_ADDRESS: "not an address",
    MAX_MESSAGE_BYTES: "1MB",
    MAX_BUFFERED_BYTES: "-5",
    RATE_LIMIT_MESSAGES_PER_SECOND: "1.5",
    RATE_LIMIT_MESSAGE_BURST: "0",
    RATE_LIMIT_BYTES_PER_SECOND: "lots",
    RATE_LIMIT_BYTE_BURST: "0",
    MAX_CONNECTIONS_PER_IP: "x",
    MAX_CONNECTIONS: "-1",
    IDLE_TIMEOUT_SECONDS: "forever",
    PING_INTERVAL_SECONDS: "100000",
    SHUTDOWN_GRACE_SECONDS: "61",
    SSE_LIFETIME_SECONDS: "0",
    TRUST_PROXY: "maybe",
    MEMORY_BUDGET_BYTES: "96MB",
    MAX_RSS_BYTES: "-1",
    IPV6_PREFIX_LENGTH: "129",
    LOG_FORMAT: "xml",
    ALLOWED_ORIGINS: "ftp://x.example",
  };
  for (const name of ENV_NAMES.filter((name) => name in bad)) {
    await t.step(`${name}=${JSON.stringify(bad[name])}`, () => {
      assert.throws(
        () => parseConfig({ [name]: bad[name] }),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.message.startsWith(`Invalid ${name} "${bad[name]}": `),
      );
    });
  }
});

Deno.test("parseConfig() refuses a value that is not a string, naming the variable", () => {
  assert.throws(
    () => parseConfig({ PORT: 9000 as unknown as string }),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.message === 'Invalid PORT "9000": expected a string',
  );
});

Deno.test("the settings table is the one list of knobs", async (t) => {
  await t.step(
    "deno.json's start task may read exactly its variables and the platform's",
    async () => {
      const args = await startTaskArgs();
      assert.ok(args.includes("-P"), "the start task loads deno.json's set");
      assert.ok(
        !args.some((arg) => /^--allow-(env|all)|^-A$/.test(arg)),
        "no flag widens the set",
      );
      const denoJson = JSON.parse(
        await Deno.readTextFile(`${ROOT}/deno.json`),
      );
      assert.deepEqual(denoJson.permissions.default.env, [
        ...ENV_NAMES,
        ...PLATFORM_ENV_NAMES,
      ]);
    },
  );
  await t.step(
    "the README has a row per setting with its default, unit, range and meaning",
    async () => {
      const readme = await Deno.readTextFile(`${ROOT}/README.md`);
      for (const name of ENV_NAMES) {
        const setting: Setting = SETTINGS[name];
        const cells = new RegExp(`^\\| \`${name}\` +\\|(.*)\\|$`, "m")
          .exec(readme)?.[1]?.split("|").map((cell) => cell.trim());
        assert.ok(cells, `README has a row for ${name}`);
        assert.deepEqual(
          cells.slice(0, 3),
          [`\`${setting.default}\``, setting.unit, setting.range],
          name,
        );
        assert.equal(cells.slice(3).join("|"), setting.description, name);
      }
    },
  );
  await t.step("every integer default is what parseConfig({}) gives", () => {
    for (const name of ENV_NAMES) {
      const setting: Setting = SETTINGS[name];
      const value = DEFAULT_CONFIG[setting.key as keyof typeof DEFAULT_CONFIG];
      if (typeof value === "number") {
        assert.equal(String(value), setting.default, name);
      }
    }
  });
  await t.step("/limits lists exactly the settings with a breach", () => {
    const limits = describeLimits(DEFAULT_CONFIG);
    assert.deepEqual(
      Object.values(limits).map((limit) => limit!.env),
      ENV_NAMES.filter((name) => (SETTINGS[name] as Setting).breach),
    );
  });
});

Deno.test("parseConfig() rejects settings that cannot work together", async (t) => {
  await t.step("a byte burst below the message size", () => {
    assert.throws(
      () =>
        parseConfig({
          MAX_MESSAGE_BYTES: "2048",
          RATE_LIMIT_BYTE_BURST: "1024",
        }),
      /^ConfigError: Invalid RATE_LIMIT_BYTE_BURST "1024": expected at least MAX_MESSAGE_BYTES \(2048\)/,
    );
  });
  await t.step(
    "a message size above the default byte burst: the burst named as the default, and what to raise",
    () => {
      assert.throws(
        () => parseConfig({ MAX_MESSAGE_BYTES: "20000000" }),
        /^ConfigError: Invalid RATE_LIMIT_BYTE_BURST "16777216" \(its default\): expected at least MAX_MESSAGE_BYTES \(20000000\).*; raise RATE_LIMIT_BYTE_BURST with MAX_MESSAGE_BYTES$/,
      );
    },
  );
  await t.step(
    "a byte burst below the message size is fine with the rate off",
    () => {
      parseConfig({
        MAX_MESSAGE_BYTES: "2048",
        RATE_LIMIT_BYTE_BURST: "1024",
        RATE_LIMIT_BYTES_PER_SECOND: "0",
      });
    },
  );
  await t.step("an RSS limit not above the memory budget", () => {
    assert.throws(
      () =>
        parseConfig({
          MEMORY_BUDGET_BYTES: "1000000",
          MAX_RSS_BYTES: "1000000",
        }),
      /^ConfigError: Invalid MAX_RSS_BYTES "1000000": expected more than MEMORY_BUDGET_BYTES/,
    );
  });
});

Deno.test("ALLOWED_ORIGINS with a trailing slash or a path is refused, saying an origin has none", async (t) => {
  const cases: Array<[given: string, bare: string]> = [
    ["https://a.example/", "https://a.example"],
    ["http://localhost:3000/page", "http://localhost:3000"],
  ];
  for (const [given, bare] of cases) {
    await t.step(given, () => {
      assert.throws(
        () => parseConfig({ ALLOWED_ORIGINS: `https://b.example,${given}` }),
        new RegExp(
          `^ConfigError: Invalid ALLOWED_ORIGINS "https://b.example,${given}": expected origins without a path or trailing slash \\(an Origin header has none\\), got "${given}": use "${bare}"$`,
        ),
      );
    });
  }
});

Deno.test("TRUST_PROXY counts proxies, with true and false kept as 1 and 0", () => {
  assert.equal(parseConfig({ TRUST_PROXY: "2" }).trustProxy, 2);
  assert.equal(parseConfig({ TRUST_PROXY: "false" }).trustProxy, 0);
  assert.equal(parseConfig({ TRUST_PROXY: "TRUE" }).trustProxy, 1);
});

Deno.test("parseConfig() refuses spaces around a value, naming the variable", async (t) => {
  for (
    const [name, value] of [
      ["PORT", " 9"],
      ["MAX_MESSAGE_BYTES", "1024 "],
      ["LOG_FORMAT", " json"],
      ["BIND_ADDRESS", "127.0.0.1 "],
      ["TLS_CERT_FILE", " cert.pem"],
      ["PORT", " "],
    ] as const
  ) {
    await t.step(`${name}=${JSON.stringify(value)}`, () => {
      assert.throws(
        () => parseConfig({ [name]: value }),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.message ===
            `Invalid ${name} "${value}": expected no spaces before or after the value`,
      );
    });
  }
});

Deno.test("parseConfig() takes an empty variable as unset, for every setting", async (t) => {
  for (const name of ENV_NAMES) {
    await t.step(`${name}=`, () => {
      const config = parseConfig({ [name]: "" });
      const key = (SETTINGS[name] as Setting).key as keyof typeof config;
      assert.deepEqual(config[key], DEFAULT_CONFIG[key]);
    });
  }
});
