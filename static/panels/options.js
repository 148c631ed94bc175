/**
 * The Options panel (subprotocols, server delay, JSON echoes) and the page's
 * own address: `?lang=`, `url=`, `delay=` and `format=` are kept there so a
 * state can be shared.
 *
 * @module
 */
import { checkProtocols } from "../format.js";
import { $, clearFieldError, language, startParams } from "../page.js";

/** This server's /echo, ws: or wss: as the page was loaded. */
export function defaultUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/echo`;
}

/** The Subprotocols field, checked as `new WebSocket()` would. */
export function readProtocols() {
  return checkProtocols($("protocol").value);
}

/** Writes the delay and format controls into the WebSocket URL's query. */
function applyOptions() {
  let url;
  try {
    url = new URL($("url").value.trim());
  } catch {
    return;
  }
  const delay = Math.min(
    Math.max(Math.round(Number($("delay").value)) || 0, 0),
    10000,
  );
  if (delay > 0) url.searchParams.set("delay", String(delay));
  else url.searchParams.delete("delay");
  if ($("format-json").checked) url.searchParams.set("format", "json");
  else url.searchParams.delete("format");
  $("url").value = url.href;
  syncPageUrl();
}

/** Reads delay and format back from a URL typed by hand. */
function readOptions() {
  try {
    const url = new URL($("url").value.trim());
    $("delay").value = url.searchParams.get("delay") ?? "0";
    $("format-json").checked = url.searchParams.get("format") === "json";
  } catch {
    // Said next to the field on Connect.
  }
  syncPageUrl();
}

/** Keeps ?lang=, url=, delay= and format= in the address bar, to share. */
export function syncPageUrl() {
  const params = new URLSearchParams();
  params.set("lang", language());
  const url = $("url").value.trim();
  if (url && url !== defaultUrl()) params.set("url", url);
  const delay = Number($("delay").value);
  if (delay > 0) params.set("delay", String(delay));
  if ($("format-json").checked) params.set("format", "json");
  history.replaceState(null, "", `?${params}${location.hash}`);
}

/** Fills the URL and options from the page's address, then binds them. */
export function mountOptions() {
  $("url").value = startParams.get("url") ?? defaultUrl();
  const delay = startParams.get("delay");
  if (delay !== null) $("delay").value = delay;
  if (startParams.get("format") === "json") $("format-json").checked = true;
  if (delay !== null || startParams.has("format")) applyOptions();
  $("url").addEventListener("change", readOptions);
  $("protocol").addEventListener("input", () => clearFieldError("protocol"));
  $("delay").addEventListener("change", applyOptions);
  $("format-json").addEventListener("change", applyOptions);
}
