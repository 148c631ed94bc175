/**
 * The send() panel: the Message field (Enter sends, ↑/↓ go through what was
 * sent before) and Resend.
 *
 * @module
 */
import { literal } from "../format.js";
import { $, sendFrom, t } from "../page.js";

/** Messages kept for ↑/↓ in the Message field. */
const HISTORY_MAX = 50;

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

  function sendText(text) {
    const sent = sendFrom(connection, text, {
      code: [`ws.send(${literal(text, 80, t("code.characters"))});`],
      inputId: "text",
      errorId: "text-error",
    });
    if (!sent) return;
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
  return { canResend: () => sentTexts.length > 0 };
}
