/**
 * What every panel of the demo page shares: the language and `t()`, sizes
 * and times in that language, errors next to their field, the one live
 * region, and the code panel. Panels register a re-render for a language
 * switch with {@link onLanguage}.
 *
 * @module
 */
import { fill, LANGUAGES, MESSAGES, pickLanguage } from "./i18n.js";
import { formatBytes, formatGap, formatNumber } from "./format.js";

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

const STORAGE_KEY = "ws-echo-language";

/** The page's query string as it was loaded: lang, url, delay, format. */
export const startParams = new URLSearchParams(location.search);

const state = {
  language: pickLanguage(
    startParams.get("lang") ?? localStorage.getItem(STORAGE_KEY),
    navigator.languages ?? [navigator.language],
  ),
  /** Field errors by input id, kept as keys so a language switch re-renders them. */
  fieldErrors: new Map(),
  /** Re-renders run after a language switch, in registration order. */
  relabels: [],
};

/** The page's language: "en", "zh-Hant" or "zh-Hans". */
export function language() {
  return state.language;
}

/** Switches the language, remembers it and re-renders every panel. */
export function setLanguage(next) {
  state.language = LANGUAGES.includes(next) ? next : "en";
  localStorage.setItem(STORAGE_KEY, state.language);
  applyLanguage();
}

/** Renders every panel in the current language (at start-up, and on a switch). */
export function applyLanguage() {
  for (const relabel of state.relabels) relabel();
}

/** Registers `fn` to run after every language switch (and at start-up). */
export function onLanguage(fn) {
  state.relabels.push(fn);
}

/**
 * The text for `key` in the page's language, with `{name}` and plural forms
 * (`{name:one|other}`) filled in by `fill()` (i18n.js).
 */
export function t(key, values = {}) {
  const text = MESSAGES[state.language][key] ?? MESSAGES.en[key] ?? key;
  return fill(text, values, state.language);
}

/**
 * The text for `key` as nodes, for texts that name code: a part between
 * backticks in the tables (`?format=json`, `/room/NAME`) is a <code> that
 * is never broken across lines (Chinese text broke "?format=json" after
 * the "?"). Values are filled in after the split, so a value's own
 * backticks stay text; `linkify` may turn a plain part into nodes.
 * @param {string} key
 * @param {Record<string, unknown>} [values]
 * @param {(text: string) => (string | Node)[]} [linkify]
 * @returns {(string | Node)[]}
 */
export function tNodes(key, values = {}, linkify = (text) => [text]) {
  const text = MESSAGES[state.language][key] ?? MESSAGES.en[key] ?? key;
  return text.split("`").flatMap((part, i) => {
    const filled = fill(part, values, state.language);
    if (i % 2 === 0) return filled ? linkify(filled) : [];
    const code = document.createElement("code");
    code.className = "token";
    code.textContent = filled;
    return [code];
  });
}

/** The text of nodes from {@link tNodes}, as a screen reader is told it. */
export function nodesText(nodes) {
  return nodes.map((node) => typeof node === "string" ? node : node.textContent)
    .join("");
}

/** A byte count in the page's language: "512 B", "1.5 KiB", "2 MiB". */
export const size = (bytes) =>
  formatBytes(bytes, state.language, { B: t("unit.B") });

/**
 * A byte count with the unit's symbol in every language ("12 B", "1.5 KiB"),
 * for the stream's size column: it lines up with KiB and MiB, and on a phone
 * "12 位元組" left "hello 你好" one column short of its line (newcomer8).
 */
export const sizeSymbol = (bytes) => formatBytes(bytes, state.language);

/** A whole number with the language's digit grouping: "2,401". */
export const number = (n, fractionDigits = 0) =>
  formatNumber(n, state.language, fractionDigits);

/** Time since the entry before: "+3 ms", "+1.2 s". */
export const gap = (ms) => formatGap(ms, state.language);

// --- Field errors, next to the field they are about ---------------------

/** Shows the error `key` under `errorId` and marks `inputId` invalid. */
export function setFieldError(inputId, errorId, key, values = {}) {
  state.fieldErrors.set(inputId, { errorId, key, values });
  renderFieldError(inputId);
}

/** Hides the error about `inputId`, if any. */
export function clearFieldError(inputId) {
  const current = state.fieldErrors.get(inputId);
  if (!current) return;
  state.fieldErrors.delete(inputId);
  $(current.errorId).hidden = true;
  $(current.errorId).textContent = "";
  $(inputId).removeAttribute("aria-invalid");
}

function renderFieldError(inputId) {
  const { errorId, key, values } = state.fieldErrors.get(inputId);
  $(errorId).textContent = t(key, values);
  $(errorId).hidden = false;
  const input = $(inputId);
  if (input.localName === "input" || input.localName === "textarea") {
    input.setAttribute("aria-invalid", "true");
  }
}

onLanguage(() => {
  for (const inputId of state.fieldErrors.keys()) renderFieldError(inputId);
});

// --- Announcements and the code panel -----------------------------------

/** Says `text` in the one live region, only when it changed. */
export function announce(text) {
  const announcer = $("announcer");
  if (announcer.textContent !== text) announcer.textContent = text;
}

/** Steps on `ws` the code panel keeps after the opening; older ones are counted. */
const STEPS_MAX = 20;

/**
 * The code panel's program: `opening` is what Connect ran (new WebSocket and
 * its handlers), `steps` every thing done on `ws` after it, oldest first (a
 * send, a close), so the panel shows the connection's whole program, as it
 * runs when pasted (newcomer7: after hello and Goodbye it showed only the
 * Goodbye). Past STEPS_MAX steps the oldest are left out, and a comment
 * says how many. `alone` is a program of its own (a room, the handshake
 * probe) that shows instead until the next Connect or action on `ws`.
 */
const program = {
  /** @type {string[]} */ opening: [],
  /**
   * Each step's lines, or a function that writes them in the page's
   * language (called again on a language switch).
   * @type {Array<string[] | (() => string[])>}
   */
  steps: [],
  /** Steps left out of `steps`, oldest first. */
  dropped: 0,
  /** @type {string[] | (() => string[]) | undefined} */ alone: undefined,
};

function renderProgram() {
  const { opening, steps, dropped } = program;
  const alone = typeof program.alone === "function"
    ? program.alone()
    : program.alone;
  let lines = alone ?? [];
  if (!alone && opening.length === 0 && steps.length === 0) {
    lines = [`// ${t("code.empty")}`];
  } else if (!alone) {
    // What was done on `ws` runs in its open handler, so the program runs as
    // pasted: sent at once, a send while CONNECTING throws InvalidStateError.
    const done = [
      ...(dropped > 0 ? [`// ${t("code.earlier", { count: dropped })}`] : []),
      ...steps.flatMap((step) => typeof step === "function" ? step() : step),
    ];
    lines = [
      ...opening,
      ...(opening.length > 0 && steps.length > 0
        ? [
          "",
          `// ${t("code.afterOpen")}`,
          `ws.addEventListener("open", () => {`,
          ...done.map((line) => `  ${line}`),
          "});",
        ]
        : done),
    ];
  }
  $("code").textContent = lines.join("\n");
}
onLanguage(renderProgram);

/**
 * Shows what Connect ran (`new WebSocket` and its handlers) as the start of
 * the program; what is done on `ws` next is added below it.
 */
export function showOpeningCode(lines) {
  program.opening = lines;
  program.steps = [];
  program.dropped = 0;
  program.alone = undefined;
  renderProgram();
}

/**
 * Adds the JavaScript for what was just done on `ws` to the program: its
 * lines, or a function that writes them, so its comments follow a language
 * switch (they stayed in the language of the moment).
 * @param {string[] | (() => string[])} lines
 */
export function showCode(lines) {
  program.steps.push(lines);
  if (program.steps.length > STEPS_MAX) {
    program.steps.shift();
    program.dropped++;
  }
  program.alone = undefined;
  renderProgram();
}

/**
 * Shows a program of its own, with its own socket (a room, a probe): its
 * lines, or a function that writes them in the page's language.
 * @param {string[] | (() => string[])} lines
 */
export function showProgram(lines) {
  program.alone = lines;
  renderProgram();
}

/**
 * Sends `data` on the open connection and shows `code`; when it is not
 * open, says so under `errorId` instead. Returns whether it was sent.
 * @param {import("./connection.js").Connection} connection
 * @param {string | Uint8Array} data
 * @param {{ code: string[] | (() => string[]), inputId: string, errorId: string }} where
 */
export function sendFrom(connection, data, { code, inputId, errorId }) {
  if (!connection.isOpen) {
    setFieldError(inputId, errorId, "notOpen");
    return false;
  }
  clearFieldError(inputId);
  connection.send(data);
  showCode(code);
  return true;
}
