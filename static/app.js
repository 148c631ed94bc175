/**
 * The demo page: one WebSocket at a time, every property and event shown as
 * it changes. Received data is only ever written with textContent.
 *
 * @module
 */
import { LANGUAGES, MESSAGES, pickLanguage } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const STATE_NAMES = ["CONNECTING", "OPEN", "CLOSING", "CLOSED"];
const STORAGE_KEY = "ws-echo-language";

let language = pickLanguage(
  localStorage.getItem(STORAGE_KEY),
  navigator.languages ?? [navigator.language],
);
/** @type {WebSocket | undefined} */
let socket;
let peak = 0;
/** When each unanswered message was sent, oldest first, for the round trip. */
let sentAt = [];
const stateItems = document.querySelectorAll(".states li");

function t(key, values = {}) {
  const text = MESSAGES[language][key] ?? MESSAGES.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

function applyLanguage() {
  document.documentElement.lang = language;
  for (const element of document.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
  $("lang").value = language;
  renderState();
}

function defaultUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/echo`;
}

function hexPreview(bytes, limit = 16) {
  const shown = [...bytes.subarray(0, limit)]
    .map((byte) => byte.toString(16).padStart(2, "0"))
    .join(" ");
  return bytes.length > limit ? `${shown} …` : shown;
}

/** The id of the close-code table row (in index.html) that explains `code`, if any. */
function closeCodeRow(code) {
  if (document.getElementById(`close-${code}`)) return `close-${code}`;
  if (code >= 4000 && code <= 4999) return "close-4000-4999";
  return undefined;
}

function log(kind, detail, closeCode) {
  const item = document.createElement("li");
  item.className = kind;
  const time = new Date().toISOString().slice(11, 23);
  item.textContent = `${time}  ${kind}  ${detail}`;
  const row = closeCode === undefined ? undefined : closeCodeRow(closeCode);
  if (row) {
    const link = document.createElement("a");
    link.href = `#${row}`;
    link.textContent = t("explainCode", { code: closeCode });
    item.append("  ", link);
    for (const current of document.querySelectorAll(".close-codes .current")) {
      current.classList.remove("current");
    }
    $(row).classList.add("current");
  }
  const list = $("log");
  list.append(item);
  // Scroll the log, not the page.
  list.scrollTop = list.scrollHeight;
}

function showCode(lines) {
  $("code").textContent = lines.join("\n");
}

/** What the state panel last showed, so unchanged frames cost nothing. */
let rendered = "";

function renderState() {
  const state = socket ? socket.readyState : undefined;
  const buffered = socket ? socket.bufferedAmount : 0;
  const key = `${language} ${state} ${buffered} ${peak}`;
  if (key === rendered) return;
  rendered = key;
  $("ready-state").textContent = state === undefined
    ? "–"
    : `${state} ${STATE_NAMES[state]}`;
  $("state").dataset.state = state === undefined ? "none" : String(state);
  $("state-explained").textContent = t(
    state === undefined ? "state.none" : `state.${state}`,
  );
  for (const item of stateItems) {
    item.classList.toggle("current", item.dataset.value === String(state));
  }
  $("buffered").textContent = String(buffered);
  $("buffered-peak").textContent = String(peak);
}

/** Polls the live properties: readyState and bufferedAmount change between events. */
function watch() {
  renderState();
  requestAnimationFrame(watch);
}

function connect() {
  if (socket && socket.readyState < WebSocket.CLOSING) socket.close();
  const url = $("url").value.trim();
  const protocol = $("protocol").value.trim();
  peak = 0;
  sentAt = [];
  $("round-trip").textContent = "–";
  try {
    socket = protocol ? new WebSocket(url, protocol) : new WebSocket(url);
  } catch (error) {
    log("error", String(error.message ?? error));
    return;
  }
  socket.binaryType = "arraybuffer";
  const current = socket;
  current.addEventListener("open", () => {
    log(
      "open",
      t("openDetail", { protocol: JSON.stringify(current.protocol) }),
    );
  });
  current.addEventListener("message", (event) => {
    const sent = sentAt.shift();
    if (sent !== undefined) {
      $("round-trip").textContent = String(
        Math.round(performance.now() - sent),
      );
    }
    if (typeof event.data === "string") {
      log("message", t("text", { data: event.data }));
    } else {
      const bytes = new Uint8Array(event.data);
      log(
        "message",
        t("binary", { bytes: bytes.length, hex: hexPreview(bytes) }),
      );
    }
  });
  current.addEventListener("error", () => log("error", t("errorDetail")));
  current.addEventListener("close", (event) => {
    log(
      "close",
      t("closeDetail", {
        code: event.code,
        reason: JSON.stringify(event.reason),
        clean: event.wasClean,
      }),
      event.code,
    );
  });
  renderState();
  showCode([
    `const ws = new WebSocket(${JSON.stringify(url)}${
      protocol ? `, ${JSON.stringify(protocol)}` : ""
    });`,
    `ws.binaryType = "arraybuffer";`,
    `ws.onopen = () => console.log("open", ws.readyState); // 1`,
    `ws.onmessage = (event) => console.log("message", event.data);`,
    `ws.onerror = () => console.log("error");`,
    `ws.onclose = (event) => console.log("close", event.code, event.reason, event.wasClean);`,
  ]);
}

function requireOpen() {
  if (socket && socket.readyState === WebSocket.OPEN) return socket;
  log("error", t("notOpen"));
  return undefined;
}

function send(data, code) {
  const open = requireOpen();
  if (!open) return;
  open.send(data);
  sentAt.push(performance.now());
  peak = Math.max(peak, open.bufferedAmount);
  renderState();
  showCode(code);
}

function parseHex(text) {
  const clean = text.replace(/[\s,]/g, "").replace(/0x/gi, "");
  if (!/^([0-9a-f]{2})*$/i.test(clean)) return undefined;
  return Uint8Array.from(
    clean.match(/../g) ?? [],
    (pair) => parseInt(pair, 16),
  );
}

function randomBytes(size) {
  const bytes = new Uint8Array(size);
  for (let offset = 0; offset < size; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, offset + 65536));
  }
  return bytes;
}

/** Writes the delay and format controls into the URL's query string. */
function applyOptions() {
  let url;
  try {
    url = new URL($("url").value.trim());
  } catch {
    return;
  }
  const delay = Math.min(
    Math.max(Math.round(Number($("delay").value)), 0),
    10000,
  );
  if (delay > 0) url.searchParams.set("delay", String(delay));
  else url.searchParams.delete("delay");
  if ($("format-json").checked) url.searchParams.set("format", "json");
  else url.searchParams.delete("format");
  $("url").value = url.href;
}

/** Shows what /inspect reports about a fresh handshake, then closes it. */
function inspectHandshake() {
  let url;
  try {
    url = new URL($("url").value.trim());
  } catch (error) {
    return log("error", t("inspectFailed", { detail: error.message }));
  }
  url.pathname = "/inspect";
  url.search = "";
  const protocol = $("protocol").value.trim();
  const probe = protocol
    ? new WebSocket(url.href, protocol)
    : new WebSocket(url.href);
  probe.addEventListener("message", (event) => {
    probe.close(1000, "inspected");
    try {
      showHandshake(JSON.parse(event.data));
    } catch (error) {
      log("error", t("inspectFailed", { detail: error.message }));
    }
  }, { once: true });
  probe.addEventListener("error", () => {
    log("error", t("inspectFailed", { detail: url.href }));
  });
  showCode([
    `const probe = new WebSocket(${JSON.stringify(url.href)}${
      protocol ? `, ${JSON.stringify(protocol)}` : ""
    });`,
    `probe.onmessage = (event) => {`,
    `  const report = JSON.parse(event.data); // the first message`,
    `  console.log(report.client.ip, report.subprotocols, report.extensions);`,
    `  probe.close();`,
    `};`,
  ]);
}

function showHandshake(report) {
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
    value.textContent = limit.off ? t("off") : `${limit.value} ${limit.unit}`;
    row.append(name, value);
    return row;
  });
  $("hs-limits").replaceChildren(...rows);
  $("handshake").hidden = false;
}

function bind() {
  $("delay").addEventListener("change", applyOptions);
  $("format-json").addEventListener("change", applyOptions);
  $("inspect").addEventListener("click", inspectHandshake);
  $("lang").addEventListener("change", (event) => {
    language = LANGUAGES.includes(event.target.value)
      ? event.target.value
      : "en";
    localStorage.setItem(STORAGE_KEY, language);
    applyLanguage();
  });
  $("connect").addEventListener("click", connect);
  $("disconnect").addEventListener("click", () => {
    if (!socket) return;
    socket.close();
    showCode(["ws.close(); // readyState: 2 CLOSING, then 3 CLOSED"]);
  });
  $("send-text").addEventListener("click", () => {
    const text = $("text").value;
    send(text, [`ws.send(${JSON.stringify(text)});`]);
  });
  $("send-hex").addEventListener("click", () => {
    const bytes = parseHex($("hex").value);
    if (!bytes) return log("error", t("badHex", { value: $("hex").value }));
    send(bytes, [
      `ws.send(new Uint8Array([${[...bytes].join(", ")}])); // binary`,
    ]);
  });
  $("send-random").addEventListener("click", () => {
    const size = Math.min(
      Math.max(Number($("random-size").value) || 0, 0),
      1048576,
    );
    send(randomBytes(size), [
      `const bytes = new Uint8Array(${size});`,
      `crypto.getRandomValues(bytes); // at most 65536 bytes per call`,
      `ws.send(bytes);`,
    ]);
  });
  $("send-burst").addEventListener("click", () => {
    const open = requireOpen();
    if (!open) return;
    const count = Math.min(
      Math.max(Number($("burst-count").value) || 1, 1),
      200,
    );
    const size = Math.min(Math.max(Number($("burst-size").value) || 1, 1), 64);
    const payload = randomBytes(size * 1024);
    const now = performance.now();
    for (let i = 0; i < count; i++) {
      open.send(payload);
      sentAt.push(now);
    }
    const buffered = open.bufferedAmount;
    peak = Math.max(peak, buffered);
    log("send", t("burstSent", { count, size, buffered }));
    renderState();
    showCode([
      `const payload = new Uint8Array(${size * 1024});`,
      `for (let i = 0; i < ${count}; i++) ws.send(payload);`,
      `console.log(ws.bufferedAmount); // queued bytes, drains to 0`,
    ]);
  });
  $("send-goodbye").addEventListener("click", () => {
    send("Goodbye", [
      `ws.send("Goodbye"); // echoed, then the server closes with 1000`,
    ]);
  });
  $("close").addEventListener("click", () => {
    if (!socket) return;
    const code = Number($("close-code").value);
    const reason = $("close-reason").value;
    if (!(code === 1000 || (code >= 3000 && code <= 4999))) {
      return log("error", t("badCode", { value: code }));
    }
    socket.close(code, reason);
    showCode([
      `ws.close(${code}, ${
        JSON.stringify(reason)
      }); // the server answers with the same code`,
    ]);
  });
  $("clear-log").addEventListener("click", () => $("log").replaceChildren());
}

$("url").value = defaultUrl();
bind();
applyLanguage();
watch();
