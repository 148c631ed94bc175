/**
 * RFC 6455 §5.2 frames on the wire, for the raw clients: masked client frames
 * out, the one parser of server frames in (whole frames from a buffer, or a
 * stream split anywhere by the reads). No I/O.
 *
 * @module
 */

/** What a frame's first 2 to 14 bytes say. */
export interface FrameHeader {
  fin: boolean;
  opcode: number;
  masked: boolean;
  /** Header bytes, mask key included. */
  headLength: number;
  /** Payload bytes after the header. */
  payloadLength: number;
}

/**
 * Reads the header of the frame that starts at `at` in `bytes`, or returns
 * undefined when not all of the header has arrived yet.
 *
 * @example
 * ```ts ignore
 * parseFrameHeader(Uint8Array.of(0x81, 2, 104, 105)); // fin, text, 2 bytes
 * ```
 */
export function parseFrameHeader(
  bytes: Uint8Array,
  at = 0,
): FrameHeader | undefined {
  const available = bytes.length - at;
  if (available < 2) return undefined;
  const second = bytes[at + 1]!;
  const masked = (second & 0x80) !== 0;
  let payloadLength = second & 0x7f;
  let headLength = 2;
  if (payloadLength === 126) {
    headLength = 4;
    if (available < headLength) return undefined;
    payloadLength = (bytes[at + 2]! << 8) | bytes[at + 3]!;
  } else if (payloadLength === 127) {
    headLength = 10;
    if (available < headLength) return undefined;
    payloadLength = Number(
      new DataView(bytes.buffer, bytes.byteOffset + at + 2, 8).getBigUint64(0),
    );
  }
  if (masked) headLength += 4;
  if (available < headLength) return undefined;
  return {
    fin: (bytes[at]! & 0x80) !== 0,
    opcode: bytes[at]! & 0x0f,
    masked,
    headLength,
    payloadLength,
  };
}

/**
 * A masked client frame (RFC 6455 §5.2) with a zero mask key.
 *
 * @example A text frame
 * ```ts ignore
 * await writeAll(conn, clientFrame(0x1, new TextEncoder().encode("hi")));
 * ```
 */
export function clientFrame(
  opcode: number,
  payload: Uint8Array,
  fin = true,
): Uint8Array {
  const length = payload.length;
  const extended = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const frame = new Uint8Array(2 + extended + 4 + length);
  frame[0] = (fin ? 0x80 : 0) | opcode;
  const view = new DataView(frame.buffer);
  if (extended === 0) frame[1] = 0x80 | length;
  else if (extended === 2) {
    frame[1] = 0x80 | 126;
    view.setUint16(2, length);
  } else {
    frame[1] = 0x80 | 127;
    view.setBigUint64(2, BigInt(length));
  }
  frame.set(payload, 2 + extended + 4);
  return frame;
}

/**
 * The unmasked frame a server sends with `payload`: the exact bytes an echo
 * of {@linkcode clientFrame} must come back as.
 */
export function serverFrame(
  opcode: number,
  payload: Uint8Array,
  fin = true,
): Uint8Array {
  const masked = clientFrame(opcode, payload, fin);
  const headLength = masked.length - 4 - payload.length;
  const frame = new Uint8Array(headLength + payload.length);
  frame.set(masked.subarray(0, headLength));
  frame[1] = frame[1]! & 0x7f;
  frame.set(payload, headLength);
  return frame;
}

/** A masked close frame with code 1000. */
export const CLOSE_1000: Uint8Array = clientFrame(0x8, Uint8Array.of(3, 232));

/** The close code in a close frame's payload, or 1005 when it has none. */
export function closeCode(payload: Uint8Array | undefined): number {
  return payload && payload.length >= 2
    ? (payload[0]! << 8) | payload[1]!
    : 1005;
}

/** Called by {@linkcode FrameReader} per frame; `payload` is undefined when skipped. */
export type OnFrame = (
  opcode: number,
  payload: Uint8Array | undefined,
  header: FrameHeader,
) => void;

/**
 * Splits a byte stream into frames, wherever the reads split it. Payloads up
 * to `keptPayloadBytes` are passed on (a view valid during the call); larger
 * ones are counted with an undefined payload and skipped without being kept.
 *
 * @example Close codes from a node:net socket
 * ```ts ignore
 * const reader = new FrameReader((opcode, payload) => {
 *   if (opcode === 0x8) console.log(closeCode(payload));
 * });
 * socket.on("data", (chunk) => reader.push(chunk));
 * ```
 */
export class FrameReader {
  #pending: Uint8Array = new Uint8Array(0);
  #skip = 0;
  readonly #onFrame: OnFrame;
  readonly #kept: number;

  constructor(onFrame: OnFrame, keptPayloadBytes = 4 * 1024) {
    this.#onFrame = onFrame;
    this.#kept = keptPayloadBytes;
  }

  /** Consumes bytes as they arrive. */
  push(chunk: Uint8Array): void {
    let data = chunk;
    if (this.#skip > 0) {
      const n = Math.min(this.#skip, data.length);
      this.#skip -= n;
      data = data.subarray(n);
    }
    if (this.#pending.length > 0) {
      const joined = new Uint8Array(this.#pending.length + data.length);
      joined.set(this.#pending);
      joined.set(data, this.#pending.length);
      data = joined;
    }
    let at = 0;
    for (;;) {
      const header = parseFrameHeader(data, at);
      if (header === undefined) break;
      const { headLength, payloadLength, opcode } = header;
      const available = data.length - at - headLength;
      if (payloadLength > this.#kept) {
        this.#onFrame(opcode, undefined, header);
        const n = Math.min(payloadLength, available);
        at += headLength + n;
        this.#skip = payloadLength - n;
        continue;
      }
      if (available < payloadLength) break;
      const start = at + headLength;
      this.#onFrame(
        opcode,
        data.subarray(start, start + payloadLength),
        header,
      );
      at = start + payloadLength;
    }
    this.#pending = data.slice(at);
  }
}
