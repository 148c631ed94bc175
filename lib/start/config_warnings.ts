/**
 * Settings that parse and work together but are risky in the way they are
 * combined: each gets one `warning` line at start-up (`startup.ts`), and
 * the service starts anyway, since the combination can be right (a host
 * whose firewall lets only the proxy reach the port).
 *
 * @module
 */
import type { Config } from "../config.ts";
import { heldReadBytes, LET_GO_BYTES } from "../connection/backlog.ts";

/** Addresses that mean every interface (BIND_ADDRESS unset is `::`). */
const EVERY_INTERFACE = new Set(["0.0.0.0", "::", "0:0:0:0:0:0:0:0"]);

/** This machine only: `localhost`, 127.0.0.0/8 (IPv4-mapped too), `::1`. */
const LOOPBACK =
  /^(localhost|::1|0:0:0:0:0:0:0:1|(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/**
 * The warnings for `config`: a memory budget that holds fewer than
 * {@link BUDGET_MIN_CLIENTS} clients of the largest message; and (not on
 * Deno Deploy, whose edge gives the client's address itself)
 * `TRUST_PROXY` set while the service listens where other hosts reach it
 * (every interface, or an address that is not loopback), where a client
 * that reaches the port directly writes its own `X-Forwarded-For` and the
 * service believes it (an attack review: 32 upgrades saying
 * `X-Forwarded-For: 127.0.5.5` got that innocent address refused `429`,
 * and one host passed the per-address cap).
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
 * assert.equal(behind({ BIND_ADDRESS: "192.0.2.10" }).length, 1);
 * assert.deepEqual(behind({ BIND_ADDRESS: "127.0.0.1" }), []);
 * assert.deepEqual(behind({ BIND_ADDRESS: "::1" }), []);
 * assert.deepEqual(behind({ BIND_ADDRESS: "localhost" }), []);
 * assert.deepEqual(configWarnings(parseConfig({}), { denoDeploy: false }), []);
 * // 16 MiB messages: the 96 MiB budget holds two uploaders (48 MiB each).
 * const big = parseConfig({ MAX_MESSAGE_BYTES: String(16 * 1024 * 1024) });
 * assert.equal(configWarnings(big, { denoDeploy: true }).length, 1);
 * ```
 */
export function configWarnings(
  config: Pick<
    Config,
    | "trustProxy"
    | "bindAddress"
    | "memoryBudgetBytes"
    | "maxMessageBytes"
    | "maxRssBytes"
  >,
  platform: { denoDeploy: boolean },
): string[] {
  return [
    ...budgetWarnings(config),
    ...(platform.denoDeploy ? [] : proxyWarnings(config)),
  ];
}

/**
 * Clients sending messages of MAX_MESSAGE_BYTES that MEMORY_BUDGET_BYTES
 * should hold at once before a start-up warning says it holds too few: at
 * the defaults it holds 32.
 */
export const BUDGET_MIN_CLIENTS = 8;

/**
 * A budget that holds fewer than {@link BUDGET_MIN_CLIENTS} clients of the
 * largest message at once: each costs its echo, plus, from
 * {@link LET_GO_BYTES} on, what Deno keeps of the message read
 * (`heldReadBytes`, twice it), and past the budget the echoes wait and then
 * clients are closed 1013 (an attack review: with MAX_MESSAGE_BYTES 32 MiB,
 * 3 uploaders were all closed before any echo, and nothing at start-up said
 * the budget held about one of them). The advice names MAX_RSS_BYTES only
 * when it is on and not above the budget advised, which it must be.
 */
function budgetWarnings(
  config: Pick<Config, "memoryBudgetBytes" | "maxMessageBytes" | "maxRssBytes">,
): string[] {
  const { memoryBudgetBytes: budget, maxMessageBytes: message } = config;
  if (budget === 0 || message === 0) return [];
  const held = heldReadBytes(message);
  const perClient = held + message;
  const clients = Math.floor(budget / perClient);
  if (clients >= BUDGET_MIN_CLIENTS) return [];
  const cost = held > 0
    ? "Deno keeps twice a message it read, plus its echo"
    : `its echo; Deno's read buffer for a message under ${LET_GO_BYTES} bytes is a connection's fixed cost`;
  const advised = BUDGET_MIN_CLIENTS * perClient;
  const rss = config.maxRssBytes > 0 && config.maxRssBytes <= advised
    ? ` and MAX_RSS_BYTES above it (now ${config.maxRssBytes})`
    : "";
  return [
    `MEMORY_BUDGET_BYTES=${budget} holds ${clients} client(s) sending MAX_MESSAGE_BYTES=${message} messages at once (${perClient} bytes each: ${cost}); past that their echoes wait and then they are closed 1013: raise MEMORY_BUDGET_BYTES to ${advised}${rss}, or lower MAX_MESSAGE_BYTES`,
  ];
}

/**
 * TRUST_PROXY while listening where other hosts reach the port. None on
 * loopback, though a local process can forge the header there too: that is
 * the set-up the warning recommends (the proxy on the same host), so it
 * would come at every correct start, and which local processes reach the
 * port is the host's to decide (docs/operations.md#behind-a-reverse-proxy).
 */
function proxyWarnings(
  config: Pick<Config, "trustProxy" | "bindAddress">,
): string[] {
  const { trustProxy, bindAddress } = config;
  if (trustProxy === 0) return [];
  if (bindAddress !== undefined && LOOPBACK.test(bindAddress)) return [];
  const where = bindAddress === undefined || EVERY_INTERFACE.has(bindAddress)
    ? `every interface (BIND_ADDRESS ${bindAddress ?? "unset"})`
    : `${bindAddress}, not loopback`;
  return [
    `TRUST_PROXY=${trustProxy} while listening on ${where}: a client that reaches the port directly can forge X-Forwarded-For, get an innocent address refused (429) and pass the per-address limits; listen where only the proxy reaches (BIND_ADDRESS=127.0.0.1) or firewall the port`,
  ];
}
