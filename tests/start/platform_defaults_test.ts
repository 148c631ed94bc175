/** The platform's defaults: on Deno Deploy, the keepalive. */
import assert from "node:assert/strict";
import { DEFAULT_CONFIG } from "../../lib/config.ts";
import {
  applyPlatformDefaults,
  DENO_DEPLOY_PING_INTERVAL_SECONDS,
} from "../../lib/start/effective_config.ts";
import { startService } from "../_server.ts";

const LOOPBACK = { PORT: "0", BIND_ADDRESS: "127.0.0.1" };

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
