/**
 * What `OwnPeers.sample` (`lib/start/own_peers.ts`) costs the main loop at
 * each sample of the overload watch: N open connections that never sent a
 * complete message (those it reads; an honest client leaves with its first
 * message), each with a stand-in `activity()` shaped as
 * `EchoConnection.activity()`, and the mean time of one sample over R.
 *
 *     deno run -A bench/own_peers_cost.ts [silent=10000] [samples=500]
 *
 * @module
 */
import type { Activity } from "../lib/admission/slots.ts";
import { OwnPeers } from "../lib/start/own_peers.ts";

/** A connection with no message yet: `EchoConnection.activity()`'s shape. */
class Silent {
  readonly #startedAt = Date.now();
  readonly #traffic = { messages: 0, bytesIn: 0, discarded: 0, out: 0 };
  readonly #peer: Deno.NetAddr;
  constructor(port: number) {
    this.#peer = { transport: "tcp", hostname: "127.0.0.2", port };
  }
  close(): void {}
  activity(): Activity {
    return {
      opened: true,
      startedAt: this.#startedAt,
      messages: this.#traffic.messages,
      bytesIn: this.#traffic.bytesIn + this.#traffic.discarded,
      peer: this.#peer,
      sent: this.#traffic.out,
      lastMessageAt: this.#startedAt,
      closingSince: undefined,
    };
  }
}

const silent = Number(Deno.args[0] ?? 10_000);
const samples = Number(Deno.args[1] ?? 500);
let sent = 0;
const own = new OwnPeers(() => sent++);
for (let port = 0; port < silent; port++) own.observe(new Silent(port), true);
await Promise.resolve();
for (let i = 0; i < 50; i++) own.sample();
const started = performance.now();
for (let i = 0; i < samples; i++) own.sample();
const perSample = (performance.now() - started) / samples;
console.log(
  `${silent} silent connections: ${perSample.toFixed(3)} ms a sample ` +
    `(${samples} samples; ${sent} update sent, the opens)`,
);
