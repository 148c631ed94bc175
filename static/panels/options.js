/**
 * The Options panel and the page's own address. Every server option the
 * panel offers is a field that mirrors one query parameter of the WebSocket
 * URL (delay=, open_delay=, status=, retry_after=, format=, and /stream's
 * count=, size=, type=, interval=): the field and the URL always hold the
 * same text, key by key, and a value the server would refuse is said next to
 * its field.
 * `?lang=`, `url=`, `delay=` and `format=` in the page's address make a
 * state to share.
 *
 * @module
 */
import { checkInteger, checkProtocols, NUMBER_FIELDS } from "../format.js";
import {
  $,
  clearFieldError,
  language,
  setFieldError,
  startParams,
} from "../page.js";

/** The endpoints the Endpoint selector offers, by path. */
const ENDPOINTS = ["/echo", "/stream", "/inspect", "/close"];

/** This server's /echo, ws: or wss: as the page was loaded. */
export function defaultUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/echo`;
}

/** The Subprotocols field, checked as `new WebSocket()` would. */
export function readProtocols() {
  return checkProtocols($("protocol").value);
}

/** Says next to the field whether the server would take its value. */
function checkField(field) {
  const value = $(field.id).value.trim();
  const checked = value === "" ? {} : checkInteger(value, field.min, field.max);
  if (checked.error) {
    setFieldError(field.id, `${field.id}-error`, checked.error, {
      value,
      min: field.min,
      max: field.max,
    });
  } else {
    clearFieldError(field.id);
  }
}

function syncStreamFields() {
  const stream = $("endpoint").value === "/stream";
  $("stream-options").hidden = !stream;
}

/** Writes the option fields into the WebSocket URL's query. */
function applyOptions() {
  let url;
  try {
    url = new URL($("url").value.trim());
  } catch {
    return;
  }
  const endpoint = $("endpoint").value;
  if (ENDPOINTS.includes(endpoint)) url.pathname = endpoint;
  const stream = url.pathname === "/stream";
  for (const field of NUMBER_FIELDS) {
    checkField(field);
    const value = $(field.id).value.trim();
    if (value === "" || value === field.off || (field.stream && !stream)) {
      url.searchParams.delete(field.param);
    } else {
      url.searchParams.set(field.param, value);
    }
  }
  if ($("format-json").checked) url.searchParams.set("format", "json");
  else url.searchParams.delete("format");
  if (stream && $("stream-type").value === "binary") {
    url.searchParams.set("type", "binary");
  } else {
    url.searchParams.delete("type");
  }
  $("url").value = url.href;
  syncStreamFields();
  syncPageUrl();
}

/** Reads the option fields back from a URL typed by hand. */
function readOptions() {
  try {
    const url = new URL($("url").value.trim());
    $("endpoint").value = ENDPOINTS.includes(url.pathname)
      ? url.pathname
      : "other";
    for (const field of NUMBER_FIELDS) {
      $(field.id).value = url.searchParams.get(field.param) ??
        field.off ?? "";
      checkField(field);
    }
    $("format-json").checked = url.searchParams.get("format") === "json";
    $("stream-type").value = url.searchParams.get("type") === "binary"
      ? "binary"
      : "text";
  } catch {
    // Said next to the field on Connect.
  }
  syncStreamFields();
  syncPageUrl();
}

/** Keeps ?lang=, url=, delay= and format= in the address bar, to share. */
export function syncPageUrl() {
  const params = new URLSearchParams();
  params.set("lang", language());
  const url = $("url").value.trim();
  if (url && url !== defaultUrl()) params.set("url", url);
  const delay = $("delay").value.trim();
  if (delay !== "" && delay !== "0") params.set("delay", delay);
  if ($("format-json").checked) params.set("format", "json");
  history.replaceState(null, "", `?${params}${location.hash}`);
}

/** Fills the URL and options from the page's address, then binds them. */
export function mountOptions() {
  $("url").value = startParams.get("url") ?? defaultUrl();
  readOptions();
  const delay = startParams.get("delay");
  if (delay !== null) $("delay").value = delay;
  if (startParams.get("format") === "json") $("format-json").checked = true;
  if (delay !== null || startParams.has("format")) applyOptions();
  $("url").addEventListener("change", readOptions);
  $("protocol").addEventListener("input", () => clearFieldError("protocol"));
  // Written into the URL as typed, not on leaving the field: the field's
  // hint says "The URL says the same" while it is typed (newcomer7).
  for (const field of NUMBER_FIELDS) {
    $(field.id).addEventListener("input", () => {
      checkField(field);
      applyOptions();
    });
  }
  for (const id of ["format-json", "endpoint", "stream-type"]) {
    $(id).addEventListener("change", applyOptions);
  }
}
