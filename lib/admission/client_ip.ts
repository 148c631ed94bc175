/**
 * Who the client is: the address the per-IP caps and the logs use, and the key
 * the caps count against. Pure functions; the caller reads the socket address,
 * the headers and the configuration.
 *
 * `X-Forwarded-For` is trusted by hop count, as Express's `trust proxy` does
 * with a number: each proxy appends the address it received the request from,
 * so with N proxies in front the N-th entry from the right was written by the
 * outermost one, and everything left of it is whatever the client sent.
 *
 * IPv6 is parsed and written (RFC 5952) by the platform's URL parser, so
 * this module only decides which address counts. ipaddr.js did it too, but
 * as a CommonJS package it cost 20 ms and 7 MiB of every start (BENCHMARKS.md).
 * Hono's `hono/utils/ipaddr` (`convertIPv6ToBinary`,
 * `convertIPv6BinaryToString`) gave the same results on 60,000 random
 * addresses, forms and prefixes and keys an IPv6 peer in 2.2 µs instead of
 * 5.9 µs (p75, `deno bench bench/client_ip_bench.ts`), but importing it after
 * `hono` added 1.7 ms (best of 15) to 19 ms (median, load average 27) to
 * every start, against 0.6-1 ms for this module; an IPv6 handshake would win
 * back 3.7 µs, so the URL parser stays (issue #22).
 *
 * @module
 */

/**
 * Where the service runs, as far as client addresses go: on Deno Deploy the
 * platform's edge puts the client's address into `info.remoteAddr` itself
 * (Deno's `DENO_TRUST_PROXY_HEADERS` and its `x-deno-client-address` header),
 * so the socket address is already the client's.
 */
export interface IpSourceOptions {
  /**
   * How many proxies the operator runs in front of the service (`TRUST_PROXY`);
   * a Deno Deploy edge is not one of them.
   */
  trustedProxies: number;
  /**
   * Whether the service runs on Deno Deploy (see {@link isDenoDeploy}).
   *
   * @default {false}
   */
  denoDeploy?: boolean;
}

/**
 * The client's IP address: the socket's (`trustedProxies` 0), or the entry of
 * `X-Forwarded-For` that the outermost of `trustedProxies` proxies appended,
 * that is the `trustedProxies`-th from the right. Several header lines count
 * as one list (`Headers.get` joins them with ", "); empty entries are skipped.
 *
 * Fewer entries than `trustedProxies` means the request skipped a proxy, so
 * no entry is certain; the left-most (the furthest hop known) is used, as
 * Express's `proxy-addr` does. Only the outermost proxy should be reachable
 * from outside. With no header, or when the chosen entry is not an IP
 * address, the socket's address is used.
 *
 * Addresses come back normalized: a port or brackets are removed
 * (`203.0.113.7:5000`, `[2001:db8::1]:1234`), IPv6 is written as RFC 5952
 * says (lower case, shortest), without a zone id, and an IPv4-mapped IPv6
 * address (`::ffff:203.0.113.7`) becomes the IPv4 address. A socket address
 * that does not parse is returned as is, a missing one as `"unknown"`, and so
 * is the unspecified address (`0.0.0.0`, `::`): Deno makes up `0.0.0.0` when
 * it cannot read the peer, as once the client has reset the connection
 * (`ext/http/request_properties.rs`), and no client sends from it (9 of 136
 * log lines of an attack review's reset requests said `ip=0.0.0.0`).
 *
 * @param remoteAddress The socket peer's host name (`info.remoteAddr.hostname`).
 * @param headers The request's headers.
 * @param trustedProxies How many proxies the operator runs in front, 0 or more.
 * @returns The client's IP address, normalized.
 * @throws {RangeError} If `trustedProxies` is not an integer 0 or more.
 *
 * @example One trusted proxy: the right-most entry, whatever the client forged
 * ```ts
 * import assert from "node:assert/strict";
 * import { clientIp } from "./client_ip.ts";
 *
 * const headers = new Headers({
 *   "x-forwarded-for": "198.51.100.1, 203.0.113.7",
 * });
 * assert.equal(clientIp("10.0.0.1", headers, 1), "203.0.113.7");
 * assert.equal(clientIp("10.0.0.1", headers, 2), "198.51.100.1");
 * assert.equal(clientIp("10.0.0.1", headers, 0), "10.0.0.1");
 * assert.equal(clientIp("::ffff:10.0.0.1", new Headers(), 1), "10.0.0.1");
 * assert.equal(clientIp("0.0.0.0", headers, 0), "unknown");
 * ```
 */
export function clientIp(
  remoteAddress: string | undefined,
  headers: Headers,
  trustedProxies: number,
): string {
  if (!Number.isInteger(trustedProxies) || trustedProxies < 0) {
    throw new RangeError(
      `Invalid trustedProxies "${trustedProxies}": expected an integer 0 or more`,
    );
  }
  const address = remoteAddress === undefined
    ? undefined
    : normalizeIp(remoteAddress) ?? remoteAddress;
  const peer = address === undefined || UNSPECIFIED.has(address)
    ? "unknown"
    : address;
  if (trustedProxies === 0) return peer;
  return forwardedIp(headers, trustedProxies) ?? peer;
}

/**
 * The address {@link clientIp} takes from `X-Forwarded-For` with
 * `trustedProxies` proxies in front, normalized; `undefined` when there is
 * no header or the chosen entry is not an IP address (then the socket's
 * address counts).
 */
function forwardedIp(
  headers: Headers,
  trustedProxies: number,
): string | undefined {
  const forwarded = headers.get("x-forwarded-for");
  if (forwarded === null) return undefined;
  const entry = entryFromRight(forwarded, trustedProxies);
  return entry === undefined ? undefined : normalizeIp(entry);
}

/** The unspecified addresses, normalized: never a client's. */
const UNSPECIFIED = new Set(["0.0.0.0", "::"]);

/** The default IPv6 grouping of {@link clientKey}: one /64, a typical site. */
export const DEFAULT_IPV6_PREFIX_BITS = 64;

/**
 * What the per-IP caps count against: an IPv4 address as is, an IPv6 address
 * by its network prefix, since one subscriber usually holds a whole /64 and
 * could otherwise open connections from as many addresses as it likes.
 * IPv4-mapped IPv6 counts as its IPv4 address; a zone id is ignored. A prefix
 * is written as `2001:db8:1:2::/64`; with 128 bits the key is the address.
 * Text that is not an IP address (such as `"unknown"`) is its own key.
 *
 * @param ip A client address, as {@link clientIp} returns it.
 * @param ipv6PrefixBits How many leading bits of an IPv6 address form the key,
 * 1 to 128; 64 ({@link DEFAULT_IPV6_PREFIX_BITS}) when left out.
 * @returns The key the per-IP caps count against.
 * @throws {RangeError} If `ipv6PrefixBits` is not an integer from 1 to 128.
 *
 * @example IPv6 addresses share a key per /64 by default
 * ```ts
 * import assert from "node:assert/strict";
 * import { clientKey } from "./client_ip.ts";
 *
 * assert.equal(clientKey("203.0.113.7"), "203.0.113.7");
 * assert.equal(clientKey("2001:db8:1:2::1"), "2001:db8:1:2::/64");
 * assert.equal(clientKey("2001:db8:1:2:a:b:c:d"), "2001:db8:1:2::/64");
 * assert.equal(clientKey("2001:db8:1:2::1", 48), "2001:db8:1::/48");
 * assert.equal(clientKey("2001:db8:1:2::1", 128), "2001:db8:1:2::1");
 * ```
 */
export function clientKey(
  ip: string,
  ipv6PrefixBits: number = DEFAULT_IPV6_PREFIX_BITS,
): string {
  if (
    !Number.isInteger(ipv6PrefixBits) || ipv6PrefixBits < 1 ||
    ipv6PrefixBits > 128
  ) {
    throw new RangeError(
      `Invalid ipv6PrefixBits "${ipv6PrefixBits}": expected an integer 1-128`,
    );
  }
  if (!ip.includes(":")) return ip;
  const address = canonicalIpv6(ip);
  if (address === undefined) return normalizeIp(ip) ?? ip;
  const mapped = mappedIpv4(address);
  if (mapped !== undefined) return mapped;
  if (ipv6PrefixBits === 128) return address;
  const groups = expandIpv6(address);
  for (let i = 0; i < 8; i++) {
    const keep = Math.min(Math.max(ipv6PrefixBits - i * 16, 0), 16);
    groups[i] = groups[i]! & (0xffff << (16 - keep)) & 0xffff;
  }
  const network = canonicalIpv6(groups.map((g) => g.toString(16)).join(":"))!;
  return `${network}/${ipv6PrefixBits}`;
}

/**
 * How many clients' worth of plain requests a network ({@link networkKey})
 * may make together: addresses of one network are cheap to rotate through
 * (32 loopback addresses asked for `/metrics` 2,483 times a second past a
 * limit of 100 each in an attack review, issue #20), and a network is still
 * many subscribers behind a provider's NAT, so not one client's worth.
 */
export const NETWORK_SHARE = 4;

/**
 * The network a client key belongs to, for limits an address rotation must
 * not sidestep: an IPv4 address's /24 (`203.0.113.0/24`), an IPv6 key's
 * /48 (a site's allocation; the key itself when `ipv6PrefixBits` is 48 or
 * fewer). Text that is not an IP address is its own network.
 *
 * @param ip A client address, as {@link clientIp} returns it.
 * @param ipv6PrefixBits IPV6_PREFIX_LENGTH, as for {@link clientKey}.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { networkKey } from "./client_ip.ts";
 * assert.equal(networkKey("203.0.113.7"), "203.0.113.0/24");
 * assert.equal(networkKey("2001:db8:1:2::1"), "2001:db8:1::/48");
 * assert.equal(networkKey("::ffff:10.1.2.3"), "10.1.2.0/24");
 * assert.equal(networkKey("unknown"), "unknown");
 * ```
 */
export function networkKey(
  ip: string,
  ipv6PrefixBits: number = DEFAULT_IPV6_PREFIX_BITS,
): string {
  const key = clientKey(ip, Math.min(ipv6PrefixBits, 48));
  const ipv4 = IPV4_NETWORK.exec(key);
  return ipv4 ? `${ipv4[1]}.0/24` : key;
}

/**
 * The network of a client key ({@link clientKey}'s answer) as
 * {@link networkKey} names it: an IPv4 key's /24, an IPv6 prefix's /48 (the
 * key itself when it is /48 or shorter). The overload watch strikes a
 * network whose addresses together brought what none brought alone
 * (`lib/start/overload_attribution.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { keyNetwork } from "./client_ip.ts";
 * assert.equal(keyNetwork("203.0.113.7"), "203.0.113.0/24");
 * assert.equal(keyNetwork("2001:db8:1:2::/64"), "2001:db8:1::/48");
 * assert.equal(keyNetwork("2001:db8::/32"), "2001:db8::/32");
 * assert.equal(keyNetwork("unknown"), "unknown");
 * ```
 */
export function keyNetwork(key: string): string {
  const prefix = /^(.*:.*)\/(\d+)$/.exec(key);
  if (!prefix) return networkKey(key);
  return Number(prefix[2]) <= 48 ? key : networkKey(prefix[1]!);
}

/** The first three octets of a dotted IPv4 address. */
const IPV4_NETWORK = /^(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}$/;

/**
 * Says where {@link clientIp} takes the address from, for `/inspect` and the
 * start-up log: `"tcp peer"`, `"deno deploy"` or
 * `"x-forwarded-for (2 trusted proxies)"`.
 *
 * @param options How many proxies are trusted, and whether on Deno Deploy.
 * @returns A short phrase in lower case.
 *
 * @example The three sources
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeIpSource } from "./client_ip.ts";
 *
 * assert.equal(describeIpSource({ trustedProxies: 0 }), "tcp peer");
 * assert.equal(
 *   describeIpSource({ trustedProxies: 1 }),
 *   "x-forwarded-for (1 trusted proxy)",
 * );
 * assert.equal(
 *   describeIpSource({ trustedProxies: 0, denoDeploy: true }),
 *   "deno deploy",
 * );
 * ```
 */
export function describeIpSource(options: IpSourceOptions): string {
  const { trustedProxies, denoDeploy = false } = options;
  if (trustedProxies === 0) return denoDeploy ? "deno deploy" : "tcp peer";
  const proxies = trustedProxies === 1 ? "proxy" : "proxies";
  const where = denoDeploy ? " in front of deno deploy" : "";
  return `x-forwarded-for (${trustedProxies} trusted ${proxies}${where})`;
}

/**
 * Says where {@link clientIp} took one request's address from, for
 * `/inspect`: {@link describeIpSource}'s phrase when the source it names
 * gave the address, and the TCP peer (or Deno Deploy's) it fell back to
 * when trusted proxies were configured but `X-Forwarded-For` was missing or
 * its entry was not an IP address, naming the source that gave none.
 *
 * @param headers The request's headers.
 * @param options How many proxies are trusted, and whether on Deno Deploy.
 * @returns A short phrase in lower case.
 *
 * @example A junk entry falls back to the peer, and says so
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeIpSourceUsed } from "./client_ip.ts";
 *
 * const used = (forwarded: string) =>
 *   describeIpSourceUsed(new Headers({ "x-forwarded-for": forwarded }), {
 *     trustedProxies: 1,
 *   });
 * assert.equal(used("203.0.113.7"), "x-forwarded-for (1 trusted proxy)");
 * assert.equal(
 *   used("not an address"),
 *   "tcp peer: x-forwarded-for (1 trusted proxy) gave no address",
 * );
 * ```
 */
export function describeIpSourceUsed(
  headers: Headers,
  options: IpSourceOptions,
): string {
  const configured = describeIpSource(options);
  if (options.trustedProxies === 0) return configured;
  if (forwardedIp(headers, options.trustedProxies) !== undefined) {
    return configured;
  }
  const peer = describeIpSource({ ...options, trustedProxies: 0 });
  return `${peer}: ${configured} gave no address`;
}

/**
 * Whether the environment is Deno Deploy's: `DENO_DEPLOY=true` on the current
 * platform, or both `DENO_REGION` and `DENO_DEPLOYMENT_ID` on Deploy Classic.
 * `DENO_DEPLOYMENT_ID` alone is not enough: Fresh asks Docker users to set it.
 *
 * @param env Reads one environment variable, e.g. `(name) => Deno.env.get(name)`.
 * @returns `true` on Deno Deploy.
 *
 * @example Reading a plain record
 * ```ts
 * import assert from "node:assert/strict";
 * import { isDenoDeploy } from "./client_ip.ts";
 *
 * const env: Record<string, string> = { DENO_DEPLOY: "true" };
 * assert.equal(isDenoDeploy((name) => env[name]), true);
 * assert.equal(isDenoDeploy(() => undefined), false);
 * ```
 */
export function isDenoDeploy(
  env: (name: string) => string | undefined,
): boolean {
  return env("DENO_DEPLOY") === "true" ||
    (env("DENO_REGION") !== undefined &&
      env("DENO_DEPLOYMENT_ID") !== undefined);
}

/** The `n`-th non-empty entry from the right of a comma list, or the left-most. */
function entryFromRight(list: string, n: number): string | undefined {
  let found: string | undefined;
  let count = 0;
  let end = list.length;
  while (count < n) {
    const start = end === 0 ? -1 : list.lastIndexOf(",", end - 1);
    const entry = list.slice(start + 1, end).trim();
    if (entry !== "") {
      found = entry;
      count++;
    }
    if (start < 0) break;
    end = start;
  }
  return found;
}

const PORT = /^:\d{1,5}$/;

/** The address in `text` written canonically, or `undefined` if it is none. */
function normalizeIp(text: string): string | undefined {
  let host = text.trim();
  if (host.startsWith("[")) {
    const close = host.indexOf("]");
    if (close < 0) return undefined;
    const rest = host.slice(close + 1);
    if (rest !== "" && !PORT.test(rest)) return undefined;
    host = host.slice(1, close);
    if (!host.includes(":")) return undefined;
  } else {
    const colon = host.indexOf(":");
    if (colon >= 0 && colon === host.lastIndexOf(":")) {
      // One colon: IPv4 with a port; IPv6 has at least two.
      if (!PORT.test(host.slice(colon))) return undefined;
      host = host.slice(0, colon);
    }
  }
  if (!host.includes(":")) return IPV4.test(host) ? host : undefined;
  // How a dual-stack socket shows every IPv4 client: skip the URL parser.
  if (
    host.slice(0, 7).toLowerCase() === "::ffff:" && IPV4.test(host.slice(7))
  ) return host.slice(7);
  const address = canonicalIpv6(host);
  if (address === undefined) return undefined;
  return mappedIpv4(address) ?? address;
}

/** Strictly four decimal parts, no leading zeros (the URL parser would also take `0x7f.1`). */
const IPV4 =
  /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * An IPv6 address as RFC 5952 writes it (lower case, shortest), its zone id
 * (`%eth0`) dropped, or `undefined` if `text` is none. The URL parser does
 * the parsing and the writing.
 */
function canonicalIpv6(text: string): string | undefined {
  const zone = text.indexOf("%");
  if (zone === 0 || zone === text.length - 1) return undefined;
  const bare = zone < 0 ? text : text.slice(0, zone);
  if (!/^[0-9a-fA-F:.]+$/.test(bare)) return undefined;
  try {
    return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

/** `::ffff:a.b.c.d` (which the URL parser writes `::ffff:xxxx:xxxx`) as IPv4. */
function mappedIpv4(canonical: string): string | undefined {
  const match = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (!match) return undefined;
  const high = parseInt(match[1]!, 16);
  const low = parseInt(match[2]!, 16);
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

/** The eight 16-bit groups of a canonical IPv6 address. */
function expandIpv6(canonical: string): number[] {
  const [head = "", tail] = canonical.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const zeros = Array(8 - left.length - right.length).fill("0");
  return [...left, ...zeros, ...right].map((group) => parseInt(group, 16));
}
