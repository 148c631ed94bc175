/**
 * Stream entries for messages: a one-line summary, the size, and the whole
 * message (pretty JSON, a hex dump) kept behind Expand and Copy.
 *
 * @module
 */
import {
  decodeJsonEcho,
  hexPreview,
  parseJson,
  previewText,
  utf8Bytes,
} from "./format.js";
import { size, t } from "./page.js";

/** Longest text parsed as JSON for a pretty expand. */
const JSON_MAX = 2 * 1048576;

/** A hex dump of at most `limit` bytes, 16 a line with their offset. */
export function hexDump(bytes, limit = 16384) {
  const lines = [];
  for (let offset = 0; offset < Math.min(bytes.length, limit); offset += 16) {
    lines.push(
      `${offset.toString(16).padStart(8, "0")}  ${
        hexPreview(bytes.subarray(offset, offset + 16))
      }`,
    );
  }
  if (bytes.length > limit) lines.push(`… ${size(bytes.length)}`);
  return lines.join("\n");
}

/**
 * A stream entry for a message sent ("send") or received ("message").
 * @param {"send"|"message"} kind
 * @param {string | ArrayBuffer | Uint8Array} data
 */
export function describe(kind, data) {
  if (typeof data !== "string") {
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
    return {
      kind,
      bytes: bytes.length,
      summary: t("binary", { hex: hexPreview(bytes) }),
      ...(bytes.length > 16
        ? { full: () => hexDump(bytes), keep: bytes.length }
        : {}),
    };
  }
  const bytes = utf8Bytes(data);
  const preview = previewText(data);
  const json = data.length <= JSON_MAX ? parseJson(data) : undefined;
  const echo = kind === "message" && json ? decodeJsonEcho(json) : undefined;
  if (echo) {
    const inner = echo.binary
      ? hexPreview(echo.binary)
      : previewText(echo.text).text;
    return {
      kind,
      bytes,
      summary: t("jsonEcho", {
        seq: echo.seq,
        type: echo.type,
        preview: inner,
      }),
      full: () =>
        JSON.stringify(json, null, 2) +
        (echo.binary ? `\n\n// data:\n${hexDump(echo.binary)}` : ""),
      keep: bytes,
    };
  }
  return {
    kind,
    bytes,
    summary: t("text", { preview: preview.text }),
    ...(preview.cut || json || data.length > 60
      ? {
        full: () => json ? JSON.stringify(json, null, 2) : data,
        keep: bytes,
      }
      : {}),
  };
}
