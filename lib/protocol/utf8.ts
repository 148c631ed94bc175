/**
 * UTF-8 byte length of a string without encoding it, so text and binary
 * messages are measured in the same unit.
 *
 * @module
 */

/** A UTF-16 unit that takes more than one UTF-8 byte (not global: no state). */
// deno-lint-ignore no-control-regex -- the complement of U+0000-U+007F, NUL included
const NON_ASCII = /[^\x00-\x7f]/;

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
  // Most messages are ASCII: V8's regular expression engine looks for a
  // unit past 0x7f in its own machine code, where a `charCodeAt` loop costs
  // ~29 instructions a unit (32 ASCII characters, each message a new string:
  // 624 against 923 instructions a call; 2,011 against 2,302 for the whole
  // echo handler; callgrind, BENCHMARKS.md issue #23 twenty-seventh round).
  // Text with one counts every unit in the general loop.
  return NON_ASCII.test(text) ? text.length + extraBytes(text) : text.length;
}

/** UTF-8 bytes beyond one per UTF-16 unit. */
function extraBytes(text: string): number {
  let extra = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) extra += 1;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        extra += 2;
        i++;
      } else extra += 2;
    } else extra += 2;
  }
  return extra;
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
