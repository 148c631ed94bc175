/**
 * Micro-benchmarks for the client identity that every handshake computes:
 * `deno task bench:micro`. For scale: a handshake costs the server about
 * 130 µs of CPU (BENCHMARKS.md). On ipaddr.js this measured 0.36 µs for an
 * IPv4 peer and 8-9 µs for an IPv6 one; the hand-written parser it replaced
 * took 0.06-1 µs, a difference the house rule (a library over own code)
 * accepts.
 */
import { clientIp, clientKey } from "../lib/client_ip.ts";

const none = new Headers();
const ipv4Forwarded = new Headers({
  "x-forwarded-for": "198.51.100.23, 203.0.113.7",
});
const ipv6Forwarded = new Headers({
  "x-forwarded-for": "198.51.100.23, 2001:db8:1:2:a:b:c:d",
});
let key = "";

Deno.bench("IPv4 socket peer -> key", { group: "client" }, () => {
  key = clientKey(clientIp("203.0.113.7", none, 0));
});

Deno.bench("IPv6 socket peer -> /64 key", { group: "client" }, () => {
  key = clientKey(clientIp("2001:db8:1:2:a:b:c:d", none, 0));
});

Deno.bench("IPv4 via X-Forwarded-For, 1 proxy -> key", {
  group: "client",
}, () => {
  key = clientKey(clientIp("10.0.0.1", ipv4Forwarded, 1));
});

Deno.bench("IPv6 via X-Forwarded-For, 1 proxy -> /64 key", {
  group: "client",
}, () => {
  key = clientKey(clientIp("10.0.0.1", ipv6Forwarded, 1));
});

Deno.bench("read the result (keeps the calls from being optimized away)", {
  group: "sink",
}, () => {
  if (key === "") throw new Error("No key computed");
});
