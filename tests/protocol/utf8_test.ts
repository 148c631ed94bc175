import assert from "node:assert/strict";
import { payloadBytes, utf8ByteLength } from "../../lib/protocol/utf8.ts";

const encoder = new TextEncoder();

Deno.test("utf8ByteLength() counts what TextEncoder would produce", async (t) => {
  const cases: Record<string, string> = {
    "empty": "",
    "ASCII only": "x".repeat(32),
    "non-ASCII first": "é" + "x".repeat(31),
    "non-ASCII last": "x".repeat(31) + "é",
    "ASCII between non-ASCII": "€x😀yé",
    "2, 3 and 4 bytes": "é€😀",
    "CJK": "繁體中文简体中文",
    "a lone high surrogate last": "ab\ud83d",
    "a lone high surrogate before ASCII": "a\ud83db",
    "a lone low surrogate": "a\ude00b",
    "DEL and U+0080": "\x7f\x80",
  };
  for (const [name, text] of Object.entries(cases)) {
    await t.step(name, () => {
      assert.equal(utf8ByteLength(text), encoder.encode(text).length);
    });
  }
});

Deno.test("payloadBytes() measures text in UTF-8 and binary by its length", () => {
  assert.equal(payloadBytes("x".repeat(31) + "€"), 34);
  assert.equal(payloadBytes(new ArrayBuffer(7)), 7);
});
