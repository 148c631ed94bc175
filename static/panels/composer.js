/**
 * The send() panel: a multi-line Message editor (Enter sends, Shift+Enter
 * adds a line, ↑/↓ on a one-line message go through what was sent), a JSON
 * mode that validates and pretty-prints before sending, Resend, Send
 * "Goodbye" (the classic tutorial's last step), and saved messages: named,
 * kept in localStorage, sent with one click.
 *
 * @module
 */
import { checkJson, literal, parseSaved, SAVED_MAX } from "../format.js";
import {
  $,
  clearFieldError,
  onLanguage,
  sendFrom,
  setFieldError,
  t,
} from "../page.js";

/** Characters of a sent text the code panel shows. */
const CODE_CHARS = 80;

/**
 * The code panel's step for sending `text`, written in the page's language
 * each time it is shown; it keeps the text's start only, not a 1 MB message.
 */
function codeForText(text) {
  const start = text.slice(0, CODE_CHARS);
  const length = text.length;
  return () => [
    `ws.send(${
      literal(start, {
        limit: CODE_CHARS,
        characters: t("code.characters"),
        length,
      })
    });`,
  ];
}

/** Messages kept for ↑/↓ in the Message field. */
const HISTORY_MAX = 50;
/** localStorage key of the saved messages: [{name, text, mode}]. */
export const SAVED_KEY = "ws-echo-saved";

/**
 * Binds the panel; returns whether Resend has something to send.
 * @param {object} ctx
 * @param {import("../connection.js").Connection} ctx.connection
 */
export function mountComposer({ connection }) {
  /** Sent texts, oldest first, for ↑/↓ and Resend. */
  const sentTexts = [];
  /** Position in sentTexts while browsing with ↑/↓; -1 is the draft. */
  let historyIndex = -1;
  let draft = "";
  let saved = parseSaved(localStorage.getItem(SAVED_KEY));

  const mode = () => $("mode-json").checked ? "json" : "text";

  /**
   * The text to send in `as` mode: JSON is checked and pretty-printed (the
   * field shows what goes out); undefined after saying why next to it.
   */
  function prepare(text, as) {
    if (as !== "json") return text;
    const checked = checkJson(text);
    if (checked.error) {
      setFieldError("text", "text-error", "invalid.json", {
        detail: checked.error,
      });
      return undefined;
    }
    return checked.text;
  }

  function sendText(text, as = "text") {
    const ready = prepare(text, as);
    if (ready === undefined) return;
    const sent = sendFrom(connection, ready, {
      code: codeForText(ready),
      inputId: "text",
      errorId: "text-error",
    });
    if (!sent) return;
    if (sentTexts[sentTexts.length - 1] !== ready) sentTexts.push(ready);
    if (sentTexts.length > HISTORY_MAX) sentTexts.shift();
    historyIndex = -1;
  }

  function sendField() {
    const ready = prepare($("text").value, mode());
    if (ready === undefined) return;
    if (ready !== $("text").value) {
      $("text").value = ready;
      fit();
    }
    sendText(ready);
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
    fit();
  }

  // --- Saved messages ----------------------------------------------------

  function store() {
    try {
      localStorage.setItem(SAVED_KEY, JSON.stringify(saved));
    } catch {
      setFieldError("save-name", "save-error", "invalid.saveFull");
    }
  }

  function save() {
    const text = $("text").value;
    const as = mode();
    const ready = prepare(text, as);
    if (ready === undefined) return;
    clearFieldError("text");
    const name = $("save-name").value.trim() ||
      ready.replace(/\s+/g, " ").slice(0, 24);
    if (!name) {
      return setFieldError("save-name", "save-error", "invalid.saveEmpty");
    }
    const next = saved.filter((item) => item.name !== name);
    next.push({ name, text: ready, mode: as });
    if (next.length > SAVED_MAX) {
      return setFieldError("save-name", "save-error", "invalid.saveMany", {
        max: SAVED_MAX,
      });
    }
    saved = next;
    clearFieldError("save-name");
    $("save-name").value = "";
    store();
    renderSaved();
  }

  function renderSaved() {
    const items = saved.map((item, index) => {
      const li = document.createElement("li");
      const send = document.createElement("button");
      send.type = "button";
      send.className = "send-saved";
      send.dataset.index = String(index);
      send.dataset.needsOpen = "";
      send.disabled = !connection.isOpen;
      send.textContent = item.name;
      send.title = t("savedSend", { name: item.name });
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "remove-saved";
      remove.dataset.index = String(index);
      remove.textContent = "×";
      remove.setAttribute("aria-label", t("savedRemove", { name: item.name }));
      li.append(send, remove);
      return li;
    });
    $("saved").replaceChildren(...items);
    $("saved-box").hidden = saved.length === 0;
  }

  $("saved").addEventListener("click", (event) => {
    const button = event.target.closest?.("button[data-index]");
    const item = button && saved[Number(button.dataset.index)];
    if (!item) return;
    if (button.classList.contains("remove-saved")) {
      saved = saved.filter((other) => other !== item);
      store();
      renderSaved();
      $("text").focus();
    } else {
      sendText(item.text, item.mode);
    }
  });
  $("save").addEventListener("click", save);
  $("save-name").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.isComposing) save();
  });
  $("send-text").addEventListener("click", sendField);
  $("resend").addEventListener("click", () => {
    const last = sentTexts[sentTexts.length - 1];
    if (last !== undefined) sendText(last);
  });
  // The tutorial's last step: the server echoes "Goodbye", then closes 1000.
  $("send-goodbye").addEventListener("click", () => {
    sendFrom(connection, "Goodbye", {
      code: () => [`ws.send("Goodbye"); // ${t("code.goodbye")}`],
      inputId: "text",
      errorId: "text-error",
    });
  });
  /** Grows the field with its lines, 2 to 8 of them. */
  function fit() {
    const lines = $("text").value.split("\n").length;
    $("text").rows = Math.min(Math.max(lines, 2), 8);
  }
  $("text").addEventListener("input", () => {
    clearFieldError("text");
    fit();
  });
  for (const id of ["mode-text", "mode-json"]) {
    $(id).addEventListener("change", () => clearFieldError("text"));
  }
  $("text").addEventListener("keydown", (event) => {
    if (event.isComposing) return;
    const oneLine = !$("text").value.includes("\n");
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      sendField();
    } else if (event.key === "ArrowUp" && oneLine) {
      event.preventDefault();
      browseHistory(1);
    } else if (event.key === "ArrowDown" && oneLine) {
      event.preventDefault();
      browseHistory(-1);
    }
  });
  onLanguage(renderSaved);
  return { canResend: () => sentTexts.length > 0 };
}
