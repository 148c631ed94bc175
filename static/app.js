/**
 * The demo page: one WebSocket at a time, every property and event shown as
 * it changes, and every failure explained in words. Received data is only
 * ever written with textContent.
 *
 * @module
 */
import { LANGUAGES, MESSAGES, pickLanguage } from "./i18n.js";
import {
  checkCloseCode,
  checkProtocols,
  checkReason,
  checkUrl,
  decodeJsonEcho,
  formatBytes,
  formatGap,
  hexPreview,
  literal,
  localTime,
  parseHex,
  parseJson,
  previewText,
  utcOffset,
  utf8Bytes,
} from "./format.js";
import { MessageStream } from "./stream.js";
import { Charts } from "./charts.js";
import { diagnose } from "./diagnose.js";

const $ = (id) => document.getElementById(id);
const STATE_NAMES = ["CONNECTING", "OPEN", "CLOSING", "CLOSED"];
const STORAGE_KEY = "ws-echo-language";
/** The most a burst may send: the page's own maximum. */
const BURST_MAX = 200;
/** Transitions kept in the readyState timeline. */
const TIMELINE_MAX = 60;
/** Messages kept for ↑/↓ in the Message field. */
const HISTORY_MAX = 50;
/** Longest text parsed as JSON for a pretty expand. */
const JSON_MAX = 2 * 1048576;

const startParams = new URLSearchParams(location.search);
let language = pickLanguage(
  startParams.get("lang") ?? localStorage.getItem(STORAGE_KEY),
  navigator.languages ?? [navigator.language],
);

/** @type {WebSocket | undefined} */
let socket;
/** Whether the current socket ever reached OPEN. */
let opened = false;
/** Whether this page called close() on the current socket. */
let closedByPage = false;
let connectionNumber = 0;
let peak = 0;
let lastRoundTrip = "–";
let echoes = 0;
/** When each unanswered message was sent, oldest first, for the round trip. */
let sentAt = [];
/**
 * Messages the server sends before any echo (the /inspect report, the
 * greeting): not answers, so they are not paired with a sent message.
 */
let unsolicited = 0;
/** Sizes of the unanswered messages, oldest first, and their sum. */
let sentBytes = [];
let outstanding = 0;
/** @type {Array<{connection: number, state: number, at: Date, time: number}>} */
const timeline = [];
/** Sent texts, oldest first, for ↑/↓ and Resend. */
const sentTexts = [];
/** Position in sentTexts while browsing with ↑/↓; -1 is the draft. */
let historyIndex = -1;
let draft = "";
/** Field errors by input id, kept as keys so a language switch re-renders them. */
const fieldErrors = new Map();
/** What the failure box says, as keys, or undefined when hidden. */
let failure;
/** The server's limits from /limits, when it answers. */
let serverLimits;

function t(key, values = {}) {
  const text = MESSAGES[language][key] ?? MESSAGES.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

const size = (bytes) =>
  formatBytes(bytes, { B: t("unit.B"), KiB: "KiB", MiB: "MiB" });
const gap = (ms) =>
  formatGap(ms, { ms: t("unit.ms"), s: t("unit.s"), min: t("unit.min") });

const stream = new MessageStream($("log"), {
  t,
  size,
  gap,
  onChange: renderStreamStatus,
});
const charts = new Charts({
  rtt: $("rtt-chart"),
  flow: $("flow-chart"),
  rttSummary: $("rtt-summary"),
  flowSummary: $("flow-summary"),
}, t);
let streamState = { total: 0, shown: 0, unseen: 0, follow: true };

function renderStreamStatus(state = streamState) {
  streamState = state;
  const number = (n) => n.toLocaleString(language);
  $("stream-count").textContent = state.total === 0 ? "" : t("stream.count", {
    shown: number(state.shown),
    total: number(state.total),
  });
  const follow = $("follow");
  follow.hidden = state.follow || state.unseen === 0;
  follow.textContent = t("stream.new", { count: number(state.unseen) });
}

// --- Field errors, next to the field they are about ---------------------

function setFieldError(inputId, errorId, key, values = {}) {
  fieldErrors.set(inputId, { errorId, key, values });
  renderFieldError(inputId);
}

function clearFieldError(inputId) {
  const current = fieldErrors.get(inputId);
  if (!current) return;
  fieldErrors.delete(inputId);
  $(current.errorId).hidden = true;
  $(current.errorId).textContent = "";
  $(inputId).removeAttribute("aria-invalid");
}

function renderFieldError(inputId) {
  const { errorId, key, values } = fieldErrors.get(inputId);
  $(errorId).textContent = t(key, values);
  $(errorId).hidden = false;
  if ($(inputId).localName === "input") {
    $(inputId).setAttribute("aria-invalid", "true");
  }
}

// --- Announcements: one live region, state changes only -----------------

function announce(text) {
  const announcer = $("announcer");
  if (announcer.textContent !== text) announcer.textContent = text;
}

// --- The readyState timeline ---------------------------------------------

/** Records the socket's readyState if it changed since the last record. */
function record(state) {
  const last = timeline[timeline.length - 1];
  if (last && last.connection === connectionNumber && last.state === state) {
    return;
  }
  timeline.push({
    connection: connectionNumber,
    state,
    at: new Date(),
    time: performance.now(),
  });
  if (timeline.length > TIMELINE_MAX) timeline.shift();
  renderTimeline();
  announce(t(`announce.${state}`));
}

function renderTimeline() {
  const items = timeline.map((entry, i) => {
    const item = document.createElement("li");
    const before = timeline[i - 1];
    const same = before && before.connection === entry.connection;
    item.dataset.state = String(entry.state);
    item.textContent = `#${entry.connection} ${entry.state} ${
      STATE_NAMES[entry.state]
    } · ${localTime(entry.at)}${
      same ? ` · ${gap(entry.time - before.time)}` : ""
    }`;
    return item;
  });
  $("timeline").replaceChildren(...items);
}

// --- The live state panel, polled every frame ----------------------------

/** What the state panel last showed, so unchanged frames cost nothing. */
let rendered = "";

function renderState() {
  const state = socket ? socket.readyState : undefined;
  const buffered = socket ? socket.bufferedAmount : 0;
  peak = Math.max(peak, buffered);
  if (socket) record(state);
  charts.tick(buffered, state === WebSocket.OPEN || buffered > 0);
  const key =
    `${language} ${state} ${buffered} ${peak} ${lastRoundTrip} ${sentTexts.length}`;
  if (key === rendered) return;
  rendered = key;
  $("ready-state").textContent = state === undefined
    ? "–"
    : `${state} ${STATE_NAMES[state]}`;
  $("state").dataset.state = state === undefined ? "none" : String(state);
  $("state-explained").textContent = t(
    state === undefined ? "state.none" : `state.${state}`,
  );
  for (const item of document.querySelectorAll(".states li")) {
    item.classList.toggle("current", item.dataset.value === String(state));
  }
  $("buffered").textContent = String(buffered);
  $("buffered-peak").textContent = String(peak);
  $("round-trip").textContent = lastRoundTrip;
  const open = state === WebSocket.OPEN;
  for (
    const id of [
      "send-text",
      "resend",
      "send-hex",
      "send-random",
      "send-burst",
      "send-goodbye",
    ]
  ) {
    $(id).disabled = !open || (id === "resend" && sentTexts.length === 0);
  }
  $("close").disabled = state === undefined || state >= WebSocket.CLOSING;
  $("connect").disabled = state !== undefined && state < WebSocket.CLOSED;
}

function watch() {
  renderState();
  requestAnimationFrame(watch);
}

// --- Messages in the stream ----------------------------------------------

function hexDump(bytes, limit = 16384) {
  const lines = [];
  for (let offset = 0; offset < Math.min(bytes.length, limit); offset += 16) {
    lines.push(
      `${offset.toString(16).padStart(8, "0")}  ${
        hexPreview(bytes.subarray(offset, offset + 16))
      }`,
    );
  }
  if (bytes.length > limit) lines.push(`… ${bytes.length} bytes`);
  return lines.join("\n");
}

/** A stream entry for a message sent or received. */
function describe(kind, data) {
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

/** The id of the close-code table row that explains `code`, if any. */
function closeCodeRow(code) {
  if (document.getElementById(`close-${code}`)) return `close-${code}`;
  if (code >= 4000 && code <= 4999) return "close-4000-4999";
  return undefined;
}

function showCode(lines) {
  $("code").textContent = lines.join("\n");
}

// --- Failures, explained -------------------------------------------------

function showFailure(next) {
  failure = next;
  renderFailure();
}

function renderFailure() {
  const box = $("failure");
  if (!failure) {
    box.hidden = true;
    return;
  }
  $("failure-title").textContent = t(failure.title, failure.values);
  $("failure-detail").textContent = t(failure.detail, failure.values);
  $("failure-body").textContent = failure.body ?? "";
  $("failure-body").hidden = !failure.body;
  box.hidden = false;
}

async function explainFailure(url, current) {
  const values = { url };
  showFailure({ title: "failure.title", detail: "failure.checking", values });
  // diagnose() catches network failures itself; anything else is a bug to show.
  const found = await diagnose(url).catch((error) => ({
    kind: "status",
    status: error.name,
    body: error.message,
    httpUrl: url,
  }));
  if (socket !== current) return;
  const target = new URL(url);
  const body = found.body?.trim();
  Object.assign(values, {
    status: found.status ?? "",
    body: body?.split("\n")[0] ?? "",
    httpUrl: found.httpUrl,
    host: target.host,
    path: target.pathname,
    origin: location.origin,
    perIp: found.perIp ?? "",
  });
  const detail = `failure.${found.kind}`;
  showFailure({
    title: "failure.title",
    detail,
    values,
    ...(body && body.includes("\n") ? { body } : {}),
  });
  stream.add({ kind: "note", summary: t(detail, values) });
  announce(t(detail, values));
}

// --- Connecting ----------------------------------------------------------

/** How many messages the server sends first on `url` (/inspect, greeting). */
function preludeCount(url) {
  const greeting = url.searchParams.get("greeting");
  return (url.pathname.endsWith("/inspect") ? 1 : 0) +
    (greeting !== null && greeting !== "0" && greeting !== "false" ? 1 : 0);
}

function connect() {
  clearFieldError("url");
  clearFieldError("protocol");
  showFailure(undefined);
  const checkedUrl = checkUrl($("url").value);
  if (checkedUrl.error) {
    return setFieldError("url", "url-error", checkedUrl.error);
  }
  const checked = checkProtocols($("protocol").value);
  if (checked.error) {
    return setFieldError("protocol", "protocol-error", checked.error, {
      value: checked.value,
    });
  }
  if (socket && socket.readyState < WebSocket.CLOSING) socket.close();
  const url = checkedUrl.url.href;
  const protocols = checked.protocols;
  let current;
  try {
    current = new WebSocket(url, protocols);
  } catch (error) {
    // checkUrl and checkProtocols should leave nothing to throw here.
    return setFieldError("url", "url-error", "failure.status", {
      status: error.name,
      body: error.message,
    });
  }
  socket = current;
  connectionNumber++;
  opened = false;
  closedByPage = false;
  peak = 0;
  sentAt = [];
  sentBytes = [];
  unsolicited = preludeCount(checkedUrl.url);
  outstanding = 0;
  echoes = 0;
  lastRoundTrip = "–";
  charts.reset();
  current.binaryType = "arraybuffer";
  record(current.readyState);
  syncPageUrl();
  current.addEventListener("open", () => {
    if (socket !== current) return;
    opened = true;
    record(current.readyState);
    stream.add({
      kind: "open",
      summary: t("openDetail", { protocol: JSON.stringify(current.protocol) }),
    });
  });
  current.addEventListener("message", (event) => {
    if (socket !== current) return;
    if (unsolicited > 0) {
      unsolicited--;
      charts.received();
      return stream.add(describe("message", event.data));
    }
    const sent = sentAt.shift();
    outstanding -= sentBytes.shift() ?? 0;
    charts.received();
    if (sent !== undefined) {
      const ms = performance.now() - sent;
      lastRoundTrip = String(Math.round(ms));
      charts.roundTrip(++echoes, ms);
    }
    stream.add(describe("message", event.data));
  });
  current.addEventListener("error", () => {
    if (socket !== current) return;
    stream.add({ kind: "error", summary: t("errorDetail") });
  });
  current.addEventListener("close", (event) => {
    if (socket !== current) return;
    record(WebSocket.CLOSED);
    let summary = t("closeDetail", {
      code: event.code,
      reason: JSON.stringify(event.reason),
      clean: event.wasClean,
    });
    if (event.code === 1006) {
      summary += ` (${t(opened ? "closeDropped" : "closeNeverOpened")})`;
    }
    const unanswered = outstanding;
    const row = closeCodeRow(event.code);
    stream.add({
      kind: "close",
      summary,
      ...(row
        ? { link: `#${row}`, linkText: t("explainCode", { code: event.code }) }
        : {}),
    });
    for (const marked of document.querySelectorAll(".close-codes .current")) {
      marked.classList.remove("current");
    }
    if (row) $(row).classList.add("current");
    if (!opened) {
      explainFailure(url, current);
    } else if (event.code === 1006 && unanswered > 0) {
      // The server's close frame was queued behind the echoes and lost.
      const values = { waiting: size(unanswered), url };
      showFailure({
        title: "failure.dropped",
        detail: "failure.droppedBusy",
        values,
      });
      stream.add({ kind: "note", summary: t("failure.droppedBusy", values) });
      announce(t("failure.droppedBusy", values));
    } else if (
      !closedByPage && event.code !== 1000 && (event.reason || row)
    ) {
      // A limit or other server close: its reason, and what the code means.
      const values = { code: event.code, reason: event.reason, url };
      showFailure({
        title: "failure.limit",
        detail: row ? `close.${row.slice("close-".length)}` : "",
        values,
      });
      announce(t("failure.limit", values));
    }
  });
  renderState();
  showCode([
    `const ws = new WebSocket(${JSON.stringify(url)}${
      protocols.length ? `, ${JSON.stringify(protocols)}` : ""
    });`,
    `ws.binaryType = "arraybuffer";`,
    `ws.onopen = () => console.log("open", ws.readyState); // 1`,
    `ws.onmessage = (event) => console.log("message", event.data);`,
    `ws.onerror = () => console.log("error");`,
    `ws.onclose = (event) => console.log("close", event.code, event.reason, event.wasClean);`,
  ]);
}

// --- Sending -------------------------------------------------------------

/** The open socket, or undefined after saying why next to `errorId`. */
function requireOpen(inputId, errorId) {
  if (socket && socket.readyState === WebSocket.OPEN) {
    clearFieldError(inputId);
    return socket;
  }
  setFieldError(inputId, errorId, "notOpen");
  return undefined;
}

function send(data, code, inputId, errorId) {
  const open = requireOpen(inputId, errorId);
  if (!open) return false;
  open.send(data);
  sentAt.push(performance.now());
  track(typeof data === "string" ? utf8Bytes(data) : data.length);
  peak = Math.max(peak, open.bufferedAmount);
  stream.add(describe("send", data));
  showCode(code);
  return true;
}

/** Counts a sent message as on its way until its echo arrives. */
function track(bytes) {
  sentBytes.push(bytes);
  outstanding += bytes;
}

/**
 * The most a burst may add to the echoes still on their way: half the
 * server's MAX_BUFFERED_BYTES, so the page itself never trips the
 * slow-reader limit (whose close frame then gets lost behind the echoes).
 */
function burstBudget() {
  const limit = serverLimits?.maxBufferedBytes;
  if (limit?.off) return BURST_MAX * 65536;
  return Math.floor((limit?.value ?? 4194304) / 2);
}

function sendText(text) {
  if (!send(text, [`ws.send(${literal(text)});`], "text", "text-error")) {
    return;
  }
  if (sentTexts[sentTexts.length - 1] !== text) sentTexts.push(text);
  if (sentTexts.length > HISTORY_MAX) sentTexts.shift();
  historyIndex = -1;
}

function browseHistory(step) {
  if (sentTexts.length === 0) return;
  if (historyIndex === -1) draft = $("text").value;
  historyIndex = Math.min(
    Math.max(historyIndex + step, -1),
    sentTexts.length - 1,
  );
  $("text").value = historyIndex === -1
    ? draft
    : sentTexts[sentTexts.length - 1 - historyIndex];
}

function randomBytes(length) {
  const bytes = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, offset + 65536));
  }
  return bytes;
}

function sendBurst() {
  const open = requireOpen("burst-count", "burst-error");
  if (!open) return;
  const count = Number($("burst-count").value);
  const kib = Number($("burst-size").value);
  if (
    !Number.isInteger(count) || count < 1 || count > BURST_MAX ||
    !Number.isInteger(kib) || kib < 1 || kib > 64
  ) {
    return setFieldError("burst-count", "burst-error", "invalid.burst", {
      max: BURST_MAX,
    });
  }
  const budget = burstBudget();
  if (outstanding + count * kib * 1024 > budget) {
    return setFieldError("burst-count", "burst-error", "invalid.burstBudget", {
      total: size(count * kib * 1024),
      budget: size(budget),
      waiting: size(outstanding),
    });
  }
  clearFieldError("burst-count");
  const payload = randomBytes(kib * 1024);
  const now = performance.now();
  for (let i = 0; i < count; i++) {
    open.send(payload);
    sentAt.push(now);
    track(payload.length);
  }
  const buffered = open.bufferedAmount;
  peak = Math.max(peak, buffered);
  stream.add({
    kind: "send",
    bytes: count * payload.length,
    summary: t("burstSent", { count, size: kib, buffered }),
  });
  showCode([
    `const payload = new Uint8Array(${kib * 1024});`,
    `for (let i = 0; i < ${count}; i++) ws.send(payload);`,
    `console.log(ws.bufferedAmount); // queued bytes, drains to 0`,
  ]);
}

// --- Closing -------------------------------------------------------------

/** Checks Code and Reason as the user types, so close() never throws. */
function checkCloseFields() {
  const code = checkCloseCode($("close-code").value);
  const reason = checkReason($("close-reason").value);
  $("reason-bytes").textContent = t("reasonBytes", { bytes: reason.bytes });
  clearFieldError("close-code");
  clearFieldError("close-reason");
  if (code.error) {
    setFieldError("close-code", "close-error", code.error, {
      value: $("close-code").value.trim(),
    });
  } else if (reason.error) {
    setFieldError("close-reason", "close-error", reason.error, {
      bytes: reason.bytes,
    });
  }
  return code.error || reason.error
    ? undefined
    : { code: code.code, reason: reason.reason };
}

function closeSocket() {
  const checked = checkCloseFields();
  if (!checked || !socket || socket.readyState >= WebSocket.CLOSING) return;
  const { reason } = checked;
  // A reason needs a code; 1000 is what close() means without one.
  const code = checked.code ?? (reason ? 1000 : undefined);
  closedByPage = true;
  try {
    if (code === undefined) socket.close();
    else socket.close(code, reason);
  } catch (error) {
    return setFieldError("close-code", "close-error", "failure.status", {
      status: error.name,
      body: error.message,
    });
  }
  record(socket.readyState);
  showCode([
    code === undefined
      ? "ws.close(); // readyState: 2 CLOSING, then 3 CLOSED"
      : `ws.close(${code}, ${
        JSON.stringify(reason)
      }); // the server answers with the same code`,
  ]);
}

// --- Options and the page's own URL --------------------------------------

function defaultUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/echo`;
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
function syncPageUrl() {
  const params = new URLSearchParams();
  params.set("lang", language);
  const url = $("url").value.trim();
  if (url && url !== defaultUrl()) params.set("url", url);
  const delay = Number($("delay").value);
  if (delay > 0) params.set("delay", String(delay));
  if ($("format-json").checked) params.set("format", "json");
  history.replaceState(null, "", `?${params}${location.hash}`);
}

function loadPageUrl() {
  $("url").value = startParams.get("url") ?? defaultUrl();
  const delay = startParams.get("delay");
  if (delay !== null) $("delay").value = delay;
  if (startParams.get("format") === "json") $("format-json").checked = true;
  if (delay !== null || startParams.has("format")) applyOptions();
}

async function loadLimits() {
  try {
    const response = await fetch("/limits", { cache: "no-store" });
    if (response.ok) serverLimits = (await response.json()).limits;
  } catch {
    // The hint is left out; nothing else depends on it.
  }
  renderBurstHint();
}

function renderBurstHint() {
  const hint = $("burst-hint");
  const buffered = serverLimits?.maxBufferedBytes;
  const burst = serverLimits?.rateLimitByteBurst;
  hint.hidden = !buffered || !burst || buffered.off || burst.off;
  if (!hint.hidden) {
    hint.textContent = t("burstHint", {
      buffered: size(buffered.value),
      burst: size(burst.value),
    });
  }
}

// --- The handshake panel -------------------------------------------------

/** Shows what /inspect reports about a fresh handshake, then closes it. */
function inspectHandshake() {
  clearFieldError("inspect");
  // Said next to the field and next to this button, which may be far apart.
  const checkedUrl = checkUrl($("url").value);
  if (checkedUrl.error) {
    setFieldError("url", "url-error", checkedUrl.error);
    return setFieldError("inspect", "inspect-error", checkedUrl.error);
  }
  const checked = checkProtocols($("protocol").value);
  if (checked.error) {
    const values = { value: checked.value };
    setFieldError("protocol", "protocol-error", checked.error, values);
    return setFieldError("inspect", "inspect-error", checked.error, values);
  }
  clearFieldError("protocol");
  const url = checkedUrl.url;
  url.pathname = "/inspect";
  url.search = "";
  let probe;
  try {
    probe = new WebSocket(url.href, checked.protocols);
  } catch (error) {
    return setFieldError("inspect", "inspect-error", "inspectFailed", {
      detail: error.message,
    });
  }
  probe.addEventListener("message", (event) => {
    probe.close(1000, "inspected");
    try {
      showHandshake(JSON.parse(event.data));
    } catch (error) {
      setFieldError("inspect", "inspect-error", "inspectFailed", {
        detail: error.message,
      });
    }
  }, { once: true });
  probe.addEventListener("error", () => {
    setFieldError("inspect", "inspect-error", "inspectFailed", {
      detail: url.href,
    });
  });
  showCode([
    `const probe = new WebSocket(${JSON.stringify(url.href)}${
      checked.protocols.length ? `, ${JSON.stringify(checked.protocols)}` : ""
    });`,
    `probe.onmessage = (event) => {`,
    `  const report = JSON.parse(event.data); // the first message`,
    `  console.log(report.client.ip, report.subprotocols, report.extensions);`,
    `  probe.close();`,
    `};`,
  ]);
}

/** The last /inspect report, to re-render its units in another language. */
let handshakeReport;

function showHandshake(report) {
  handshakeReport = report;
  const list = (items) => items.length ? items.join(", ") : t("none");
  $("hs-ip").textContent = report.client.ip;
  $("hs-origin").textContent = report.origin ?? t("none");
  $("hs-user-agent").textContent = report.userAgent ?? t("none");
  $("hs-protocols").textContent = `${list(report.subprotocols.offered)} → ${
    report.subprotocols.chosen ?? t("none")
  }`;
  $("hs-extensions").textContent = `${list(report.extensions.offered)} → ${
    list(report.extensions.accepted)
  }`;
  $("hs-headers").textContent = Object.entries(report.request.headers)
    .map(([name, value]) => `${name}: ${value}`).join("\n");
  const rows = Object.values(report.limits).map((limit) => {
    const row = document.createElement("tr");
    const name = document.createElement("td");
    const code = document.createElement("code");
    code.textContent = limit.env;
    name.append(code);
    const value = document.createElement("td");
    const unit = MESSAGES[language][`limitUnit.${limit.unit}`] ?? limit.unit;
    value.textContent = limit.off ? t("off") : `${limit.value} ${unit}`;
    row.append(name, value);
    return row;
  });
  $("hs-limits").replaceChildren(...rows);
  $("handshake").hidden = false;
}

// --- Language ------------------------------------------------------------

function applyLanguage() {
  document.documentElement.lang = language;
  document.title = t("docTitle");
  for (const element of document.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
  $("lang").value = language;
  $("stream-legend").textContent = t("stream.legend", {
    zone: utcOffset(new Date()),
  });
  for (const inputId of fieldErrors.keys()) renderFieldError(inputId);
  $("reason-bytes").textContent = t("reasonBytes", {
    bytes: utf8Bytes($("close-reason").value),
  });
  renderFailure();
  renderBurstHint();
  renderStreamStatus();
  renderTimeline();
  stream.relabel();
  charts.describe();
  if (handshakeReport) showHandshake(handshakeReport);
  rendered = "";
  renderState();
}

function bind() {
  $("lang").addEventListener("change", (event) => {
    language = LANGUAGES.includes(event.target.value)
      ? event.target.value
      : "en";
    localStorage.setItem(STORAGE_KEY, language);
    applyLanguage();
    syncPageUrl();
  });
  $("url").addEventListener("change", readOptions);
  $("url").addEventListener("input", () => clearFieldError("url"));
  $("url").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !$("connect").disabled) connect();
  });
  $("protocol").addEventListener("input", () => clearFieldError("protocol"));
  $("delay").addEventListener("change", applyOptions);
  $("format-json").addEventListener("change", applyOptions);
  $("connect").addEventListener("click", connect);
  $("close").addEventListener("click", closeSocket);
  $("close-code").addEventListener("input", checkCloseFields);
  $("close-reason").addEventListener("input", checkCloseFields);
  for (const id of ["close-code", "close-reason"]) {
    $(id).addEventListener("keydown", (event) => {
      if (event.key === "Enter") closeSocket();
    });
  }
  $("send-text").addEventListener("click", () => sendText($("text").value));
  $("resend").addEventListener("click", () => {
    const last = sentTexts[sentTexts.length - 1];
    if (last !== undefined) sendText(last);
  });
  $("text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.isComposing) {
      event.preventDefault();
      sendText($("text").value);
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      browseHistory(1);
    } else if (event.key === "ArrowDown") {
      event.preventDefault();
      browseHistory(-1);
    }
  });
  $("send-hex").addEventListener("click", () => {
    const bytes = parseHex($("hex").value);
    if (!bytes) return setFieldError("hex", "hex-error", "invalid.hex");
    clearFieldError("hex");
    send(
      bytes,
      [
        `ws.send(new Uint8Array([${[...bytes.subarray(0, 64)].join(", ")}${
          bytes.length > 64 ? ", /* … */" : ""
        }])); // binary`,
      ],
      "hex",
      "hex-error",
    );
  });
  $("send-random").addEventListener("click", () => {
    const length = Math.min(
      Math.max(Math.round(Number($("random-size").value)) || 0, 0),
      1048576,
    );
    send(
      randomBytes(length),
      [
        `const bytes = new Uint8Array(${length});`,
        `crypto.getRandomValues(bytes); // at most 65536 bytes per call`,
        `ws.send(bytes);`,
      ],
      "random-size",
      "hex-error",
    );
  });
  $("send-burst").addEventListener("click", sendBurst);
  $("send-goodbye").addEventListener("click", () => {
    send(
      "Goodbye",
      [
        `ws.send("Goodbye"); // echoed, then the server closes with 1000`,
      ],
      "text",
      "text-error",
    );
  });
  $("inspect").addEventListener("click", inspectHandshake);
  $("clear-log").addEventListener("click", () => stream.clear());
  $("follow").addEventListener("click", () => stream.follow());
}

loadPageUrl();
bind();
applyLanguage();
syncPageUrl();
loadLimits();
watch();
