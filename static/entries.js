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
/** Characters of a text message a filter searches. */
const SEARCH_CHARS = 16384;
/** Bytes of a binary message a filter searches, as hex. */
const SEARCH_BYTES = 64;

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

/** The id of the close-code table row that explains `code`, if any. */
export function closeCodeRow(code) {
  if (document.getElementById(`close-${code}`)) return `close-${code}`;
  if (code >= 3000 && code <= 3999) return "close-3000-3999";
  if (code >= 4000 && code <= 4999) return "close-4000-4999";
  return undefined;
}

/**
 * The stream entry for a recorded event or message (recording.js), at its
 * time; undefined for "connecting", which the timeline shows instead.
 * @param {import("./recording.js").Recorded} recorded
 * @param {boolean} opened whether the connection it belongs to ever opened
 */
export function entryFor(recorded, opened) {
  const at = recorded.time;
  switch (recorded.event) {
    case "connecting":
      return undefined;
    case "open":
      return {
        at,
        kind: "open",
        summary: t("openDetail", {
          protocol: JSON.stringify(recorded.protocol),
        }),
      };
    case "error":
      return { at, kind: "error", summary: t("errorDetail") };
    case "close": {
      const { code, reason, wasClean } = recorded;
      let summary = t("closeDetail", {
        code,
        reason: JSON.stringify(reason),
        clean: t(wasClean ? "closeClean" : "closeNotClean"),
      });
      if (code === 1006) {
        summary = t("closeWhy", {
          close: summary,
          why: t(opened ? "closeDropped" : "closeNeverOpened"),
        });
      }
      const row = closeCodeRow(code);
      return {
        at,
        kind: "close",
        summary,
        ...(row
          ? { link: `#${row}`, linkText: t("explainCode", { code }) }
          : {}),
      };
    }
  }
  const kind = recorded.direction === "sent" ? "send" : "message";
  if (recorded.data === undefined) {
    return {
      at,
      kind,
      type: recorded.type,
      bytes: recorded.size,
      summary: t("dataDropped", { type: recorded.type }),
    };
  }
  return { at, ...describe(kind, recorded.data) };
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
      type: "binary",
      search: hexPreview(bytes, SEARCH_BYTES),
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
      type: "text",
      search: data.slice(0, SEARCH_CHARS),
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
    type: "text",
    search: data.slice(0, SEARCH_CHARS),
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
