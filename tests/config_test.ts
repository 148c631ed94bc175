import assert from "node:assert/strict";
import {
  ConfigError,
  DEFAULT_CONFIG,
  ENV_NAMES,
  parseConfig,
} from "../lib/config.ts";

Deno.test("parseConfig() defaults are safe for a public endpoint", () => {
  assert.equal(DEFAULT_CONFIG.port, 9998);
  assert.equal(DEFAULT_CONFIG.hostname, "0.0.0.0");
  assert.equal(DEFAULT_CONFIG.maxMessageBytes, 1024 * 1024);
  assert.equal(DEFAULT_CONFIG.maxBufferedBytes, 4 * 1024 * 1024);
  assert.equal(DEFAULT_CONFIG.maxConnectionsPerIp, 32);
  assert.equal(DEFAULT_CONFIG.maxConnections, 10_000);
  assert.equal(DEFAULT_CONFIG.idleTimeoutSeconds, 300);
  assert.equal(DEFAULT_CONFIG.sseLifetimeSeconds, 300);
  assert.equal(DEFAULT_CONFIG.trustProxy, false);
  assert.equal(DEFAULT_CONFIG.allowedOrigins, "*");
  assert.equal(DEFAULT_CONFIG.tls, undefined);
});

Deno.test("parseConfig() reads every variable in its unit", () => {
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
  assert.equal(config.trustProxy, true);
  assert.deepEqual(config.allowedOrigins, [
    "https://a.example",
    "http://localhost:3000",
  ]);
});

Deno.test("parseConfig() rejects a bad value of each variable, naming it", async (t) => {
  const bad: Record<string, string> = {
    PORT: "65536",
    HOSTNAME: " ",
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
