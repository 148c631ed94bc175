/**
 * A recording of one page's connections, for Export and Import: every
 * message sent and received (direction, type, size, time, data) and every
 * open, error and close (with code and reason), newest {@link MAX_RECORDED}
 * kept. No DOM here, so Deno tests import this file directly.
 *
 * The exported shape (docs/page.md, "Recordings"):
 *
 * ```json
 * { "format": "ws-echo-recording", "version": 1, "exportedAt": "…Z",
 *   "entries": [
 *     { "time": "…Z", "event": "connecting", "url": "ws://…/echo", "protocols": [] },
 *     { "time": "…Z", "event": "open", "protocol": "" },
 *     { "time": "…Z", "direction": "sent", "type": "text", "size": 5, "data": "hello" },
 *     { "time": "…Z", "direction": "received", "type": "binary", "size": 4, "data": "3q2+7w==" },
 *     { "time": "…Z", "event": "close", "code": 1000, "reason": "", "wasClean": true }
 *   ] }
 * ```
 *
 * `data` is the text itself for type "text" and base64 for type "binary";
 * it is left out (with `"dropped": true`) for the oldest messages once the
 * recording holds more than {@link KEEP_BYTES} of data.
 *
 * @module
 */
import { decodeBase64, utf8Bytes } from "./format.js";

/** The `format` field of an exported recording. */
export const RECORDING_FORMAT = "ws-echo-recording";
/** Entries kept, as in the stream. */
export const MAX_RECORDED = 1000;
/** Message data kept for export, in bytes; older data is let go first. */
export const KEEP_BYTES = 32 * 1048576;
/** Largest recording file Import reads, in bytes. */
export const IMPORT_MAX_BYTES = 64 * 1048576;

/**
 * One recorded entry: a message (direction, data) or an event.
 * @typedef {object} Recorded
 * @property {Date} time
 * @property {"connecting"|"open"|"error"|"close"} [event]
 * @property {"sent"|"received"} [direction]
 * @property {"text"|"binary"} [type]
 * @property {number} [size] bytes
 * @property {string | Uint8Array} [data] absent when dropped
 * @property {boolean} [dropped] true when the data was let go
 * @property {string} [url]
 * @property {string[]} [protocols]
 * @property {string} [protocol]
 * @property {number} [code]
 * @property {string} [reason]
 * @property {boolean} [wasClean]
 */

/** Bytes as base64, in chunks (String.fromCharCode takes limited arguments). */
export function encodeBase64(bytes) {
  let binary = "";
  for (let offset = 0; offset < bytes.length; offset += 32768) {
    binary += String.fromCharCode(...bytes.subarray(offset, offset + 32768));
  }
  return btoa(binary);
}

/** What happened on the page's connections, newest {@link MAX_RECORDED}. */
export class Recording {
  /** @type {Recorded[]} */
  entries = [];
  #dataBytes = 0;
  /** Index of the oldest entry whose data may still be kept. */
  #oldestKept = 0;

  /**
   * Records an event or a message (`data` a string, ArrayBuffer or bytes),
   * at `entry.time` or now; returns the recorded entry.
   */
  add(entry) {
    const recorded = { time: new Date(), ...entry };
    if (recorded.data !== undefined) {
      if (typeof recorded.data !== "string") {
        recorded.data = recorded.data instanceof Uint8Array
          ? recorded.data
          : new Uint8Array(recorded.data);
      }
      recorded.type ??= typeof recorded.data === "string" ? "text" : "binary";
      recorded.size ??= typeof recorded.data === "string"
        ? utf8Bytes(recorded.data)
        : recorded.data.length;
      this.#dataBytes += recorded.size;
    }
    this.entries.push(recorded);
    if (this.entries.length > MAX_RECORDED) {
      const [first] = this.entries.splice(0, 1);
      if (first.data !== undefined) this.#dataBytes -= first.size;
      this.#oldestKept = Math.max(0, this.#oldestKept - 1);
    }
    while (
      this.#dataBytes > KEEP_BYTES && this.#oldestKept < this.entries.length - 1
    ) {
      const old = this.entries[this.#oldestKept++];
      if (old.data !== undefined) {
        this.#dataBytes -= old.size;
        delete old.data;
        old.dropped = true;
      }
    }
    return recorded;
  }

  /** Forgets everything. */
  clear() {
    this.entries = [];
    this.#dataBytes = 0;
    this.#oldestKept = 0;
  }

  /** The recording in its exported shape (see the module comment). */
  toJSON() {
    return {
      format: RECORDING_FORMAT,
      version: 1,
      exportedAt: new Date().toISOString(),
      entries: this.entries.map(exportEntry),
    };
  }
}

function exportEntry(entry) {
  const time = entry.time.toISOString();
  if (entry.event) {
    const { time: _, ...rest } = entry;
    return { time, ...rest };
  }
  const out = {
    time,
    direction: entry.direction,
    type: entry.type,
    size: entry.size,
  };
  if (entry.data === undefined) return { ...out, dropped: true };
  return {
    ...out,
    data: typeof entry.data === "string"
      ? entry.data
      : encodeBase64(entry.data),
  };
}

const EVENTS = ["connecting", "open", "error", "close"];

/**
 * Reads an exported recording back: its entries with times as Dates and
 * binary data as bytes, or an error naming the first entry that is wrong.
 * @param {string} text the file's contents
 * @returns {{ entries: Recorded[] } | { error: string }}
 */
export function parseRecording(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { error: `not JSON: ${error.message}` };
  }
  if (
    value === null || typeof value !== "object" ||
    value.format !== RECORDING_FORMAT || value.version !== 1 ||
    !Array.isArray(value.entries)
  ) {
    return {
      error: `not a ${RECORDING_FORMAT} version 1 file with an entries list`,
    };
  }
  const entries = [];
  for (const [index, raw] of value.entries.entries()) {
    const entry = parseEntry(raw);
    if (typeof entry === "string") {
      return { error: `entry ${index + 1}: ${entry}` };
    }
    entries.push(entry);
  }
  return { entries: entries.slice(-MAX_RECORDED) };
}

/** One entry, or what is wrong with it. */
function parseEntry(raw) {
  if (raw === null || typeof raw !== "object") return "not an object";
  const time = new Date(raw.time);
  if (typeof raw.time !== "string" || Number.isNaN(time.getTime())) {
    return "time is not an ISO date";
  }
  if (raw.event !== undefined) {
    if (!EVENTS.includes(raw.event)) return `unknown event "${raw.event}"`;
    const entry = { time, event: raw.event };
    if (raw.event === "connecting") {
      if (typeof raw.url !== "string") return "url is not text";
      entry.url = raw.url;
      entry.protocols = Array.isArray(raw.protocols)
        ? raw.protocols.filter((p) => typeof p === "string")
        : [];
    } else if (raw.event === "open") {
      entry.protocol = typeof raw.protocol === "string" ? raw.protocol : "";
    } else if (raw.event === "close") {
      if (!Number.isInteger(raw.code)) return "code is not an integer";
      entry.code = raw.code;
      entry.reason = typeof raw.reason === "string" ? raw.reason : "";
      entry.wasClean = raw.wasClean === true;
    }
    return entry;
  }
  if (raw.direction !== "sent" && raw.direction !== "received") {
    return "neither an event nor a direction (sent, received)";
  }
  if (raw.type !== "text" && raw.type !== "binary") {
    return "type is neither text nor binary";
  }
  const entry = { time, direction: raw.direction, type: raw.type };
  if (raw.data === undefined) {
    if (!Number.isInteger(raw.size) || raw.size < 0) {
      return "no data and no size";
    }
    return { ...entry, size: raw.size, dropped: true };
  }
  if (typeof raw.data !== "string") return "data is not text";
  if (raw.type === "text") {
    return { ...entry, size: utf8Bytes(raw.data), data: raw.data };
  }
  const bytes = decodeBase64(raw.data);
  if (!bytes) return "data is not base64";
  return { ...entry, size: bytes.length, data: bytes };
}
