/**
 * Checks of what the page's controls hold, as the server will check it:
 * JSON in the composer, saved messages read back from localStorage, the
 * number options of the WebSocket URL, and the ports browsers refuse. No DOM
 * here, so Deno tests import this file directly (format.js re-exports it).
 *
 * @module
 */

/**
 * Checks JSON typed in the composer: the text pretty-printed (2 spaces), or
 * the parser's own message.
 * @param {string} text
 * @returns {{ text: string } | { error: string }}
 */
export function checkJson(text) {
  try {
    return { text: JSON.stringify(JSON.parse(text), null, 2) };
  } catch (error) {
    return { error: error.message };
  }
}

/** Most saved messages kept. */
export const SAVED_MAX = 50;

/**
 * The saved messages from localStorage: `[{name, text, mode}]`, anything
 * else (absent, broken, edited by hand) left out item by item.
 * @param {string | null} raw
 * @returns {Array<{ name: string, text: string, mode: "text" | "json" }>}
 */
export function parseSaved(raw) {
  let value;
  try {
    value = JSON.parse(raw ?? "[]");
  } catch {
    return [];
  }
  if (!Array.isArray(value)) return [];
  return value.filter((item) =>
    item !== null && typeof item === "object" &&
    typeof item.name === "string" && item.name !== "" &&
    typeof item.text === "string" &&
    (item.mode === "text" || item.mode === "json")
  ).slice(0, SAVED_MAX).map(({ name, text, mode }) => ({ name, text, mode }));
}

/** Longest server delay, in ms: the server's MAX_DELAY_MS (a test keeps them equal). */
export const MAX_DELAY_MS = 10000;

/**
 * Checks a number field as the server checks its query option: a whole
 * number from `min` to `max`.
 * @param {string} value
 * @param {number} min
 * @param {number} max
 * @returns {{ value: number } | { error: string }}
 */
export function checkInteger(value, min, max) {
  const text = value.trim();
  if (!/^\d{1,10}$/.test(text)) return { error: "invalid.integer" };
  const number = Number(text);
  return number >= min && number <= max
    ? { value: number }
    : { error: "invalid.integer" };
}

/**
 * Checks the Server delay field as the server checks `?delay=`: empty or a
 * whole number of milliseconds, 0 to {@link MAX_DELAY_MS}.
 * @param {string} value
 * @returns {{ delay: number } | { error: string }}
 */
export function checkDelay(value) {
  if (value.trim() === "") return { delay: 0 };
  const checked = checkInteger(value, 0, MAX_DELAY_MS);
  return "error" in checked ? checked : { delay: checked.value };
}

/**
 * The page's number fields, each one query option with the range the server
 * takes (lib/connection/parse_options.ts; a test keeps them equal). Empty,
 * or `off`, leaves the option out of the URL; `stream` ones go only to
 * /stream.
 */
export const NUMBER_FIELDS = [
  { id: "delay", param: "delay", min: 0, max: MAX_DELAY_MS, off: "0" },
  { id: "open-delay", param: "open_delay", min: 0, max: 10000, off: "0" },
  { id: "status", param: "status", min: 400, max: 599 },
  { id: "retry-after", param: "retry_after", min: 0, max: 86400 },
  { id: "count", param: "count", min: 1, max: 100000, stream: true },
  { id: "stream-size", param: "size", min: 0, max: 67108864, stream: true },
  { id: "interval", param: "interval", min: 0, max: 60000, stream: true },
];

/**
 * Ports that browsers refuse to connect to (the Fetch standard's "bad
 * port" list; Chrome says ERR_UNSAFE_PORT): a WebSocket to one of them fails
 * without a single packet sent.
 */
export const BAD_PORTS = new Set([
  0,
  1,
  7,
  9,
  11,
  13,
  15,
  17,
  19,
  20,
  21,
  22,
  23,
  25,
  37,
  42,
  43,
  53,
  69,
  77,
  79,
  87,
  95,
  101,
  102,
  103,
  104,
  109,
  110,
  111,
  113,
  115,
  117,
  119,
  123,
  135,
  137,
  139,
  143,
  161,
  179,
  389,
  427,
  465,
  512,
  513,
  514,
  515,
  526,
  530,
  531,
  532,
  540,
  548,
  554,
  556,
  563,
  587,
  601,
  636,
  989,
  990,
  993,
  995,
  1719,
  1720,
  1723,
  2049,
  3659,
  4045,
  4190,
  5060,
  5061,
  6000,
  6566,
  6665,
  6666,
  6667,
  6668,
  6669,
  6679,
  6697,
  10080,
]);
