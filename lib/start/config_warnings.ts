/**
 * Settings that parse and work together but are risky in the way they are
 * combined: each gets one `warning` line at start-up (`startup.ts`), and
 * the service starts anyway, since the combination can be right (a host
 * whose firewall lets only the proxy reach the port).
 *
 * @module
 */
import type { Config } from "../config.ts";

/** Addresses that mean every interface (BIND_ADDRESS unset is `::`). */
const EVERY_INTERFACE = new Set(["0.0.0.0", "::", "0:0:0:0:0:0:0:0"]);

/**
 * The warnings for `config` (none on Deno Deploy, whose edge gives the
 * client's address itself): `TRUST_PROXY` set while the service listens on
 * every interface, where a client that reaches the port directly writes
 * its own `X-Forwarded-For` and the service believes it (the stranger's
 * review: 32 upgrades saying `X-Forwarded-For: 127.0.5.5` got that
 * innocent address refused `429`, and one host passed the per-address cap).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig } from "../config.ts";
 * import { configWarnings } from "./config_warnings.ts";
 * const behind = (env: Record<string, string>) =>
 *   configWarnings(parseConfig({ TRUST_PROXY: "1", ...env }), { denoDeploy: false });
 * assert.equal(behind({}).length, 1);
 * assert.equal(behind({ BIND_ADDRESS: "0.0.0.0" }).length, 1);
 * assert.deepEqual(behind({ BIND_ADDRESS: "127.0.0.1" }), []);
 * assert.deepEqual(configWarnings(parseConfig({}), { denoDeploy: false }), []);
 * ```
 */
export function configWarnings(
  config: Pick<Config, "trustProxy" | "bindAddress">,
  platform: { denoDeploy: boolean },
): string[] {
  const { trustProxy, bindAddress } = config;
  if (platform.denoDeploy || trustProxy === 0) return [];
  if (bindAddress !== undefined && !EVERY_INTERFACE.has(bindAddress)) return [];
  return [
    `TRUST_PROXY=${trustProxy} while listening on every interface (BIND_ADDRESS ${
      bindAddress ?? "unset"
    }): a client that reaches the port directly can forge X-Forwarded-For, get an innocent address refused (429) and pass the per-address limits; listen where only the proxy reaches (BIND_ADDRESS=127.0.0.1) or firewall the port`,
  ];
}
