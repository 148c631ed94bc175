/**
 * The State panel: readyState and what it means, every transition with its
 * time, bufferedAmount with its peak and the last round trip. It polls the
 * socket every animation frame (readyState and bufferedAmount change with
 * no event), feeds the flow chart, and enables the controls marked
 * `data-needs-open` only while the socket is OPEN.
 *
 * @module
 */
import { localTime } from "../format.js";
import {
  $,
  announce,
  gap,
  language,
  number,
  onLanguage,
  size,
  t,
} from "../page.js";

const STATE_NAMES = ["CONNECTING", "OPEN", "CLOSING", "CLOSED"];
/** Transitions kept in the readyState timeline. */
const TIMELINE_MAX = 60;

/**
 * Binds the panel and starts the per-frame watch.
 * @param {object} ctx
 * @param {import("../connection.js").Connection} ctx.connection
 * @param {import("../charts.js").Charts} ctx.charts
 * @param {() => boolean} [ctx.canResend] whether Resend has something to send
 */
export function mountStatePanel({ connection, charts, canResend }) {
  /** @type {Array<{connection: number, state: number, at: Date, time: number}>} */
  const timeline = [];
  /** What the panel last showed, so unchanged frames cost nothing. */
  let rendered = "";

  /** Records the socket's readyState if it changed since the last record. */
  function record(state) {
    const last = timeline[timeline.length - 1];
    if (
      last && last.connection === connection.number && last.state === state
    ) {
      return;
    }
    timeline.push({
      connection: connection.number,
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

  function render() {
    const state = connection.readyState;
    const buffered = connection.sample();
    if (state !== undefined) record(state);
    charts.tick(connection, state === WebSocket.OPEN || buffered > 0);
    const resend = canResend?.() ?? false;
    const roundTrip = connection.lastRoundTrip;
    const key =
      `${language()} ${state} ${buffered} ${connection.peak} ${roundTrip} ${resend}`;
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
    $("buffered").textContent = size(buffered);
    $("buffered").dataset.bytes = String(buffered);
    $("buffered-peak").textContent = size(connection.peak);
    $("buffered-peak").dataset.bytes = String(connection.peak);
    $("round-trip").textContent = roundTrip === undefined
      ? "–"
      : number(Math.round(roundTrip));
    const open = state === WebSocket.OPEN;
    for (const button of document.querySelectorAll("[data-needs-open]")) {
      button.disabled = !open || (button.id === "resend" && !resend);
    }
    $("close").disabled = state === undefined || state >= WebSocket.CLOSING;
    $("connect").disabled = state !== undefined && state < WebSocket.CLOSED;
  }

  function watch() {
    render();
    requestAnimationFrame(watch);
  }

  connection.addEventListener("connecting", () => {
    charts.reset();
    record(WebSocket.CONNECTING);
    render();
  });
  connection.addEventListener("open", () => record(WebSocket.OPEN));
  connection.addEventListener("message", ({ detail }) => {
    charts.received();
    if (detail.roundTrip !== undefined) {
      charts.roundTrip(connection.echoes, detail.roundTrip);
    }
  });
  connection.addEventListener("closing", () => record(WebSocket.CLOSING));
  connection.addEventListener("close", () => {
    record(WebSocket.CLOSED);
    charts.closed();
  });
  onLanguage(() => {
    renderTimeline();
    charts.draw();
    rendered = "";
    render();
  });
  watch();
}
