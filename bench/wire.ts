/**
 * The one raw RFC 6455 client of the tests and bench/, over raw sockets, for
 * what a browser-style WebSocket cannot do (bad headers, a client that never
 * reads, a chosen source address, byte-exact echo checks). No imports from
 * the app. One parser each for response heads (`wire/http.ts`) and frames
 * (`wire/frame.ts`); two transports: `Deno.connect` (`wire/conn.ts`) and
 * `node:net` for a bound source address (`wire/node_net.ts`). Every read has
 * a deadline.
 *
 * @module
 */
export * from "./wire/deadline.ts";
export * from "./wire/frame.ts";
export * from "./wire/http.ts";
export * from "./wire/conn.ts";
export * from "./wire/node_net.ts";
