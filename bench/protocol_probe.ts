/**
 * What a client gets back for frames RFC 6455 says a server must fail the
 * connection on (§5.1 unmasked frames, §5.2 RSV bits and reserved opcodes,
 * §5.4-5.5 bad fragments and control frames, §7.4 close codes, §8.1
 * invalid UTF-8), and for the service's own limits: one raw client per
 * case, from 127.0.5.N, each case's first 3 s. Prints one line per case:
 * the close code and reason the client got, "dropped" when the TCP
 * connection ended without a Close frame, or "still open", and the data
 * frames that came back. docs/limits.md ("Known limits of the runtime") cites
 * it: what Deno 2.9 does below the app.
 *
 * Usage: `deno run -A bench/protocol_probe.ts PORT` against a running
 * service (`BIND_ADDRESS=127.0.0.1 PORT=N deno task start`). From a
 * stranger's review of issue #20.
 *
 * @module
 */
import { clientFrame, closeCode, FrameReader, wsOpen } from "./wire.ts";

const port = Number(Deno.args[0]);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`protocol_probe: expected a port, got "${Deno.args[0]}"`);
  Deno.exit(2);
}
const text = (value: string) => new TextEncoder().encode(value);
/** A client frame whose first byte (FIN, RSV, opcode) is `byte0`. */
const withByte0 = (frame: Uint8Array, byte0: number) => {
  const copy = frame.slice();
  copy[0] = byte0;
  return copy;
};
/** A frame without the mask a client must set (RFC 6455 §5.1). */
const unmasked = (opcode: number, payload: Uint8Array) =>
  Uint8Array.of(0x80 | opcode, payload.length, ...payload);
const closePayload = (code: number, reason = "") => {
  const bytes = text(reason);
  const payload = new Uint8Array(2 + bytes.length);
  new DataView(payload.buffer).setUint16(0, code);
  payload.set(bytes, 2);
  return payload;
};
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
};
/** A 64-bit length header with no payload after it. */
const longLength = (byte2: number, byte5: number) => {
  const frame = new Uint8Array(14);
  frame[0] = 0x82;
  frame[1] = 0xff;
  frame[2] = byte2;
  frame[5] = byte5;
  return frame;
};

const CASES: Array<[name: string, bytes: Uint8Array, path?: string]> = [
  ["text", clientFrame(1, text("hello"))],
  ["invalid UTF-8 text", clientFrame(1, Uint8Array.of(0xc3, 0x28))],
  ["overlong UTF-8 (C0 80)", clientFrame(1, Uint8Array.of(0xc0, 0x80))],
  [
    "surrogate UTF-8 (ED A0 80)",
    clientFrame(1, Uint8Array.of(0xed, 0xa0, 0x80)),
  ],
  ["reserved opcode 3", clientFrame(3, text("x"))],
  ["reserved opcode 0xB", clientFrame(0xb, text("x"))],
  ["RSV1 set", withByte0(clientFrame(1, text("x")), 0xc1)],
  ["RSV3 set", withByte0(clientFrame(1, text("x")), 0x91)],
  ["unmasked text", unmasked(1, text("x"))],
  ["ping of 126 bytes", clientFrame(9, new Uint8Array(126))],
  ["fragmented ping", clientFrame(9, text("x"), false)],
  ["continuation without a start", clientFrame(0, text("x"))],
  [
    "new text inside a fragmented one",
    concat(clientFrame(1, text("a"), false), clientFrame(1, text("b"))),
  ],
  ["message of 1 MiB + 1", clientFrame(2, new Uint8Array(1048577))],
  ["close 1000 'bye'", clientFrame(8, closePayload(1000, "bye"))],
  ["close 1005", clientFrame(8, closePayload(1005))],
  ["close 999", clientFrame(8, closePayload(999))],
  ["close 5000", clientFrame(8, closePayload(5000))],
  ["close of 1 byte", clientFrame(8, Uint8Array.of(3))],
  [
    "close reason not UTF-8",
    clientFrame(8, concat(closePayload(1000), Uint8Array.of(0xff))),
  ],
  ["64-bit length, top bit set", longLength(0x80, 0)],
];

let n = 0;
for (const [name, bytes, path] of CASES) {
  n++;
  const { socket, rest } = await wsOpen({
    port,
    localAddress: `127.0.5.${n}`,
    path: path ?? "/echo",
    timeoutMs: 10_000,
    sockets: new Set(),
  });
  let code: number | undefined;
  let reason = "";
  let ended = false;
  const data: string[] = [];
  const reader = new FrameReader((opcode, payload, head) => {
    if (opcode === 0x8) {
      code = closeCode(payload);
      reason = new TextDecoder().decode(payload?.subarray(2)).slice(0, 50);
    } else data.push(`opcode ${opcode}, ${head.payloadLength} B`);
  }, 256);
  socket.on("data", (chunk: Uint8Array) => reader.push(chunk));
  socket.on("close", () => ended = true);
  socket.on("error", () => {});
  if (rest.length) reader.push(rest);
  socket.resume();
  socket.write(bytes);
  const deadline = performance.now() + 3000;
  while (!ended && code === undefined && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const got = code !== undefined
    ? `close ${code} "${reason}"`
    : ended
    ? "dropped (no close frame)"
    : "still open";
  console.log(`${name.padEnd(34)} | ${got.padEnd(50)} | ${data.join("; ")}`);
  socket.destroy();
}
