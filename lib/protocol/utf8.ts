/**
 * UTF-8 byte length of a string without encoding it, so text and binary
 * messages are measured in the same unit.
 *
 * @module
 */

/**
 * Counts the bytes `TextEncoder` would produce for `text`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { utf8ByteLength } from "./utf8.ts";
 * assert.equal(utf8ByteLength("é€😀"), 2 + 3 + 4);
 * ```
 */
export function utf8ByteLength(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) bytes += 1;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 2;
        i++;
      } else bytes += 2;
    } else bytes += 2;
  }
  return bytes;
}

/**
 * A WebSocket message's payload length in bytes: UTF-8 for text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { payloadBytes } from "./utf8.ts";
 * assert.equal(payloadBytes("é"), 2);
 * assert.equal(payloadBytes(new ArrayBuffer(3)), 3);
 * ```
 */
export function payloadBytes(data: string | ArrayBuffer): number {
  return typeof data === "string" ? utf8ByteLength(data) : data.byteLength;
}
