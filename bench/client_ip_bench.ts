/**
 * Micro-benchmarks for the client identity that every handshake computes:
 * `deno task bench:micro`. For scale: a handshake costs the server about
 * 115-130 µs of CPU (BENCHMARKS.md). IPv6 goes through the URL parser
 * (about 4 µs); ipaddr.js took 0.4-9 µs but cost 20 ms of every start.
 */
import { clientIp, clientKey } from "../lib/admission/client_ip.ts";

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

Deno.bench("IPv4 client on the dual-stack socket (::ffff:) -> key", {
  group: "client",
}, () => {
  key = clientKey(clientIp("::ffff:203.0.113.7", none, 0));
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
