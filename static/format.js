/**
 * Pure helpers for the demo page: sizes, times, previews of long or binary
 * messages, and the checks that keep `new WebSocket()` and `close()` from
 * throwing. No DOM here, so Deno tests import this file directly.
 *
 * @module
 */

const encoder = new TextEncoder();

/** Longest close reason: a close frame's payload is 125 bytes, 2 are the code. */
export const MAX_REASON_BYTES = 123;

/** Characters of a message shown before it is cut and offered to expand. */
export const PREVIEW_CHARS = 100;

/** UTF-8 length of a string, as close() and the server count it. */
export function utf8Bytes(text) {
  return encoder.encode(text).length;
}

/** Cached Intl.NumberFormat per locale and fraction digits. */
const numberFormats = new Map();

function numberFormat(locale, fractionDigits) {
  const key = `${locale ?? ""} ${fractionDigits}`;
  let format = numberFormats.get(key);
  if (!format) {
    format = new Intl.NumberFormat(locale, {
      maximumFractionDigits: fractionDigits,
    });
    numberFormats.set(key, format);
  }
  return format;
}

/**
 * A number with the locale's digits and grouping ("2,401"), at most
 * `fractionDigits` decimals.
 * @param {number} value
 * @param {string} [locale] a BCP 47 tag; the runtime's default when absent
 */
export function formatNumber(value, locale, fractionDigits = 0) {
  return numberFormat(locale, fractionDigits).format(value);
}

/**
 * A byte count for people, the one formatter of the page: "512 B", "1.5 KiB",
 * "2 MiB", "1.5 GiB", digits in the locale's style (Intl.NumberFormat; its
 * own byte units are decimal kB/MB, so the binary unit names are written
 * here). Below 10 one decimal is kept, so a count never shows more than four
 * digits.
 * @param {number} bytes
 * @param {string | { B?: string }} [locale] a BCP 47 tag (or, as before, the unit names)
 * @param {{ B?: string }} [units] the translated name of "B"
 */
export function formatBytes(bytes, locale, units = {}) {
  if (typeof locale === "object") [locale, units] = [undefined, locale];
  const b = units.B ?? "B";
  if (bytes < 1024) return `${formatNumber(bytes, locale)} ${b}`;
  const steps = [[1024, "KiB"], [1048576, "MiB"], [1073741824, "GiB"]];
  let [divisor, unit] = steps[0];
  for (const step of steps) if (bytes >= step[0]) [divisor, unit] = step;
  const value = bytes / divisor;
  // 1023.9 KiB would round to 1024 KiB: say 1 MiB instead.
  if (value >= 1023.95 && unit !== "GiB") {
    return formatBytes(divisor * 1024, locale, units);
  }
  return `${formatNumber(value, locale, value < 10 ? 1 : 0)} ${unit}`;
}

const clock = new Intl.DateTimeFormat("en-GB", {
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  fractionalSecondDigits: 3,
  hourCycle: "h23",
});

/** Local wall-clock time with milliseconds, 24-hour: "14:03:22.107". */
export function localTime(date) {
  return clock.format(date);
}

const zone = new Intl.DateTimeFormat("en", { timeZoneName: "longOffset" });

/** The local zone as people write it: "UTC+08:00", "UTC−05:30", "UTC". */
export function utcOffset(date) {
  const name = zone.formatToParts(date)
    .find((part) => part.type === "timeZoneName")?.value ?? "GMT";
  return name.replace("GMT", "UTC").replace("-", "−");
}

const GAP_UNITS = {
  en: { ms: "ms", s: "s", min: "min", h: "h", d: "d" },
  "zh-Hant": { ms: "毫秒", s: "秒", min: "分鐘", h: "小時", d: "天" },
  "zh-Hans": { ms: "毫秒", s: "秒", min: "分钟", h: "小时", d: "天" },
};

/**
 * Time between two events, short: "+3 ms", "+1.2 s", "+4 min", "+5.5 h",
 * "+339 d", "+1234 d". Intl's unit style would write "1.2 sec" in English, so the unit
 * names are the page's. At most four digits, so the stream's gap column
 * holds it: an imported recording's last entry can be a year before the
 * note that follows it ("+487,643 min" overflowed the column).
 * @param {number} ms
 * @param {string} [locale] "en", "zh-Hant" or "zh-Hans"
 */
export function formatGap(ms, locale = "en") {
  const units = GAP_UNITS[locale] ?? GAP_UNITS.en;
  const steps = [[1, "ms"], [1000, "s"], [60000, "min"], [3600000, "h"], [
    86400000,
    "d",
  ]];
  let [divisor, unit] = steps[0];
  for (const step of steps) if (ms >= step[0]) [divisor, unit] = step;
  // Seconds keep a decimal below a minute, hours below ten; the rest none.
  const value = ms / divisor;
  const digits = unit === "s" || (unit === "h" && value < 10) ? 1 : 0;
  // 1,000 days and more without the group separator: "+1234 d" fits the
  // phone's 7ch cell, "+1,234 d" ran past it.
  const shown = Math.round(value) >= 1000
    ? String(Math.round(value))
    : formatNumber(value, locale, digits);
  return `+${shown} ${units[unit]}`;
}

/** Bytes as hex pairs, the first `limit` of them, with "…" when cut. */
export function hexPreview(bytes, limit = 16) {
  const shown = [...bytes.subarray(0, limit)]
    .map((byte) => byte.toString(16).padStart(2, "0"))
    .join(" ");
  return bytes.length > limit ? `${shown} …` : shown;
}

/** One line of at most `limit` characters: newlines shown as ⏎, "…" when cut. */
export function previewText(text, limit = PREVIEW_CHARS) {
  const head = text.length > limit ? text.slice(0, limit) : text;
  const line = head.replace(/\r?\n/g, "⏎");
  return {
    text: text.length > limit ? `${line}…` : line,
    cut: text.length > limit,
  };
}

/** Parses JSON objects and arrays; anything else (or broken JSON) is undefined. */
export function parseJson(text) {
  const first = text.trimStart()[0];
  if (first !== "{" && first !== "[") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Decodes base64 to bytes; undefined when it is not base64. */
export function decodeBase64(text) {
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/**
 * A format=json echo (`{seq, type, bytes, receivedAt, data}`) with its data
 * decoded: binary data comes back as bytes. Undefined for anything else.
 */
export function decodeJsonEcho(value) {
  if (
    value === null || typeof value !== "object" ||
    typeof value.seq !== "number" ||
    (value.type !== "text" && value.type !== "binary") ||
    typeof value.data !== "string"
  ) return undefined;
  if (value.type === "text") return { ...value, text: value.data };
  const bytes = decodeBase64(value.data);
  return bytes && { ...value, binary: bytes };
}

/**
 * A JavaScript string literal for the code panel; long texts are cut so the
 * panel never holds a megabyte. `characters` names the unit of the count;
 * `length` is the whole text's, when `text` is only its start (the code
 * panel keeps a step's start, not a 1 MB message, to write it again in
 * another language).
 * @param {string} text
 * @param {{ limit?: number, characters?: string, length?: number }} [options]
 */
export function literal(
  text,
  { limit = 80, characters = "characters", length = text.length } = {},
) {
  if (length <= limit) return JSON.stringify(text);
  return `${
    JSON.stringify(text.slice(0, limit))
  } /* …${length} ${characters} */`;
}

/**
 * Checks the Code field of close(): empty (no code) or 1000 or 3000-4999,
 * the only codes a browser may send. Returns the code or an error key.
 */
export function checkCloseCode(value) {
  const text = value.trim();
  if (text === "") return { code: undefined };
  if (!/^\d{1,5}$/.test(text)) return { error: "invalid.codeNotNumber" };
  const code = Number(text);
  if (code === 1000 || (code >= 3000 && code <= 4999)) return { code };
  return { error: "invalid.code" };
}

/** Checks the Reason field of close(): at most 123 bytes of UTF-8. */
export function checkReason(reason) {
  const bytes = utf8Bytes(reason);
  return bytes > MAX_REASON_BYTES
    ? { error: "invalid.reason", bytes }
    : { reason, bytes };
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Checks a comma-separated subprotocol list as `new WebSocket(url, list)`
 * does: each a token (RFC 7230), none twice. Returns the list or an error key.
 */
export function checkProtocols(value) {
  const text = value.trim();
  if (text === "") return { protocols: [] };
  const protocols = text.split(",").map((protocol) => protocol.trim());
  const bad = protocols.find((protocol) => !TOKEN.test(protocol));
  if (bad !== undefined) return { error: "invalid.protocol", value: bad };
  const seen = new Set();
  for (const protocol of protocols) {
    if (seen.has(protocol)) {
      return { error: "invalid.protocolTwice", value: protocol };
    }
    seen.add(protocol);
  }
  return { protocols };
}

/** Checks the URL field: ws: or wss: (http(s): is turned into ws(s):), no fragment. */
export function checkUrl(value) {
  let url;
  try {
    url = new URL(value.trim());
  } catch {
    return { error: "invalid.url" };
  }
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    return { error: "invalid.urlScheme" };
  }
  if (url.hash) return { error: "invalid.urlHash" };
  return { url };
}

/** Parses "de ad be ef", "0xde,0xad" and the like; undefined if not hex. */
export function parseHex(text) {
  const clean = text.replace(/[\s,]/g, "").replace(/0x/gi, "");
  if (!/^([0-9a-f]{2})*$/i.test(clean)) return undefined;
  return Uint8Array.from(
    clean.match(/../g) ?? [],
    (pair) => parseInt(pair, 16),
  );
}

export {
  BAD_PORTS,
  checkDelay,
  checkInteger,
  checkJson,
  MAX_DELAY_MS,
  NUMBER_FIELDS,
  parseSaved,
  SAVED_MAX,
} from "./checks.js";
