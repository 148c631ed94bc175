/**
 * The Messages panel: what the connection sends, receives and goes through,
 * recorded (recording.js, for Export) and written into the
 * {@link MessageStream}, with its count, Follow, Clear and the filter (text
 * or regular expression, direction, type).
 *
 * @module
 */
import { MAX_ENTRIES, MessageStream } from "../stream.js";
import { entryFor } from "../entries.js";
import { utcOffset } from "../format.js";
import { Recording } from "../recording.js";
import {
  $,
  clearFieldError,
  gap,
  number,
  onLanguage,
  setFieldError,
  size,
  sizeSymbol,
  t,
} from "../page.js";

/** Room kept between a revealed row and the screen's edge, in CSS pixels. */
const REVEAL_MARGIN_PX = 8;

/**
 * A filter from the panel's controls, or undefined when they let all through.
 * @returns {{ filter?: (facets: import("../stream.js").Facets) => boolean } | { error: string }}
 */
function readFilter() {
  const text = $("filter-text").value;
  const dir = $("filter-dir").value;
  const type = $("filter-type").value;
  let test;
  if (text && $("filter-regex").checked) {
    let pattern;
    try {
      pattern = new RegExp(text, "i");
    } catch (error) {
      return { error: error.message };
    }
    test = (search) => pattern.test(search);
  } else if (text) {
    const lower = text.toLowerCase();
    test = (search) => search.toLowerCase().includes(lower);
  }
  if (!test && dir === "all" && type === "all") return {};
  return {
    filter: (facets) =>
      (dir === "all" || facets.dir === dir) &&
      (type === "all" || facets.type === type) &&
      (!test || test(facets.search)),
  };
}

/**
 * Creates the stream and the recording and binds them to the connection.
 * @param {object} ctx
 * @param {import("../connection.js").Connection} ctx.connection
 */
export function mountStreamPanel({ connection }) {
  let status = { total: 0, shown: 0, unseen: 0, follow: true };
  const recording = new Recording();
  /** Whether the connection the next entries belong to ever opened. */
  let opened = false;

  function renderStatus(next = status) {
    status = next;
    // Export holds the connecting events too, which the stream leaves to the
    // State panel's timeline: say so below the cap, or "6 shown of 6" hides
    // one of 7 (at the cap the stream has dropped rows anyway).
    const connecting =
      recording.entries.filter((entry) => entry.event === "connecting").length;
    const below = connecting > 0 && status.total < MAX_ENTRIES;
    $("stream-count").textContent = status.total === 0
      ? ""
      : t(below ? "stream.countConnecting" : "stream.count", {
        shown: number(status.shown),
        total: number(status.total),
        count: number(connecting),
      });
    $("filter-count").textContent = status.filtering
      ? t("filter.count", { count: number(status.matches) })
      : "";
    const follow = $("follow");
    follow.hidden = status.follow || status.unseen === 0;
    follow.textContent = t("stream.new", { count: number(status.unseen) });
  }

  const stream = new MessageStream($("log"), {
    t,
    size: sizeSymbol,
    gap,
    onChange: renderStatus,
  });

  /**
   * The control that sent (or connected) last, while its answer is awaited:
   * on a phone the stream lies below the controls, and at 390x844 the first
   * echo landed below the screen (newcomer8).
   * @type {Element | undefined}
   */
  let awaiting;
  /**
   * The control of the last answer revealed, for the close that may follow
   * it: Goodbye's echo is revealed, and its close row came one row below.
   * @type {Element | undefined}
   */
  let revealedFor;

  /** Remembers the control in use when a send or Connect starts. */
  function awaitAnswer(event) {
    awaiting = event === "connecting"
      ? $("connect")
      : document.activeElement ?? undefined;
  }

  /**
   * Scrolls the page just enough to show the newest row, once the stream has
   * written it (its frame comes first), while the stream follows and the
   * control that caused it stays on the screen. It only ever scrolls down.
   */
  function reveal(control = awaiting) {
    awaiting = undefined;
    revealedFor = control;
    if (!control || control === document.body) return;
    requestAnimationFrame(() => {
      const row = $("log").lastElementChild;
      if (!status.follow || !row || row.hidden) return;
      const below = row.getBoundingClientRect().bottom - innerHeight;
      const room = control.getBoundingClientRect().top - REVEAL_MARGIN_PX;
      const by = Math.min(below + REVEAL_MARGIN_PX, room);
      if (below > 0 && by > 0) scrollBy(0, by);
    });
  }

  /** Records `entry` and shows it in the stream. */
  function show(entry) {
    const recorded = recording.add(entry);
    if (recorded.event === "connecting") opened = false;
    if (recorded.event === "open") opened = true;
    const shown = entryFor(recorded, opened);
    if (shown) stream.add(shown);
  }

  connection.addEventListener("connecting", ({ detail }) => {
    show({ event: "connecting", url: detail.url, protocols: detail.protocols });
    revealedFor = undefined;
    awaitAnswer("connecting");
  });
  connection.addEventListener("open", ({ detail }) => {
    show({ event: "open", protocol: detail.protocol });
    reveal();
  });
  connection.addEventListener("message", ({ detail }) => {
    show({ direction: "received", data: detail.data });
    reveal();
  });
  connection.addEventListener("sent", ({ detail }) => {
    show({ direction: "sent", data: detail.data });
    awaitAnswer("sent");
  });
  connection.addEventListener("burst", ({ detail }) => {
    const { payload, count } = detail;
    awaitAnswer("burst");
    for (let i = 0; i < count; i++) {
      recording.add({ direction: "sent", data: payload });
    }
    stream.add({
      kind: "send",
      type: "binary",
      bytes: count * payload.length,
      whole: true,
      summary: t("burstSent", {
        count,
        size: payload.length / 1024,
        buffered: size(connection.bufferedAmount),
      }),
    });
  });
  connection.addEventListener("error", () => show({ event: "error" }));
  connection.addEventListener("close", ({ detail }) => {
    const { code, reason, wasClean, opened } = detail;
    const control = awaiting ?? revealedFor;
    awaiting = undefined;
    show({ event: "close", code, reason, wasClean });
    // A connection that never opened is explained in the failure box, which
    // stays where it is.
    if (opened) reveal(control);
  });

  function applyFilter() {
    const read = readFilter();
    if (read.error) {
      return setFieldError("filter-text", "filter-error", "invalid.regex", {
        detail: read.error,
      });
    }
    clearFieldError("filter-text");
    stream.setFilter(read.filter);
  }

  /** Whether a phone's timing cell shows local times (Local time pressed). */
  const clock = () => $("clock-toggle").getAttribute("aria-pressed") === "true";

  function renderLegend() {
    // A phone shows one timing cell a row, so its legend says which (style.css
    // shows one of the two).
    const zone = utcOffset(new Date());
    const wide = document.createElement("span");
    wide.className = "legend-wide";
    wide.textContent = t("stream.legend", { zone }) + t("stream.legendGap");
    const phone = document.createElement("span");
    phone.className = "legend-phone";
    phone.textContent = clock()
      ? t("stream.legend", { zone })
      : t("stream.legendPhone", { zone });
    $("stream-legend").replaceChildren(wide, phone);
  }

  onLanguage(() => {
    renderLegend();
    renderStatus();
    stream.relabel();
  });
  $("clock-toggle").addEventListener("click", () => {
    const on = !clock();
    $("clock-toggle").setAttribute("aria-pressed", String(on));
    $("log").classList.toggle("clock", on);
    renderLegend();
  });
  for (
    const id of ["filter-text", "filter-regex", "filter-dir", "filter-type"]
  ) {
    $(id).addEventListener(
      id === "filter-text" ? "input" : "change",
      applyFilter,
    );
  }
  $("clear-log").addEventListener("click", () => {
    stream.clear();
    recording.clear();
  });
  $("follow").addEventListener("click", () => stream.follow());

  return {
    stream,
    recording,
    /** Replaces the stream and recording with imported entries. */
    load(entries) {
      stream.clear();
      recording.clear();
      opened = false;
      for (const entry of entries) show(entry);
    },
  };
}
