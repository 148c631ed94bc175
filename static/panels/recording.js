/**
 * Export, Import and Replay of a recording (recording.js): Export downloads
 * what the stream holds as JSON; Import shows a file's entries in the stream
 * instead; Replay sends the imported recording's sent messages, in order, on
 * the connection that is open now.
 *
 * @module
 */
import { IMPORT_MAX_BYTES, parseRecording } from "../recording.js";
import {
  $,
  clearFieldError,
  number,
  onLanguage,
  setFieldError,
  showCode,
  size,
  t,
} from "../page.js";

/** A file name for an export made at `date`: ws-echo-2026-01-02T03-04-05.json */
export function exportName(date) {
  return `ws-echo-${date.toISOString().slice(0, 19).replaceAll(":", "-")}.json`;
}

/**
 * Binds Export, Import and Replay.
 * @param {object} ctx
 * @param {import("../connection.js").Connection} ctx.connection
 * @param {ReturnType<import("./stream_panel.js").mountStreamPanel>} ctx.messages
 */
export function mountRecordingPanel({ connection, messages }) {
  /** The sent messages of the last import, for Replay. */
  let toReplay = [];

  function renderReplay() {
    $("replay").hidden = toReplay.length === 0;
    $("replay").textContent = t("replay", { count: number(toReplay.length) });
  }

  function exportRecording() {
    const json = JSON.stringify(messages.recording, null, 2);
    const url = URL.createObjectURL(
      new Blob([json], { type: "application/json" }),
    );
    const link = document.createElement("a");
    link.href = url;
    link.download = exportName(new Date());
    link.click();
    // The download has its own copy once it starts.
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }

  async function importRecording() {
    const file = $("import-file").files?.[0];
    if (!file) return;
    $("import-file").value = "";
    if (file.size > IMPORT_MAX_BYTES) {
      return setFieldError("import", "import-error", "invalid.importSize", {
        size: size(file.size),
        max: size(IMPORT_MAX_BYTES),
      });
    }
    const parsed = parseRecording(await file.text());
    if (parsed.error) {
      return setFieldError("import", "import-error", "invalid.import", {
        name: file.name,
        detail: parsed.error,
      });
    }
    clearFieldError("import");
    messages.load(parsed.entries);
    toReplay = parsed.entries
      .filter((entry) => entry.direction === "sent" && entry.data !== undefined)
      .map((entry) => entry.data);
    messages.stream.add({
      kind: "note",
      summary: t("imported", {
        name: file.name,
        count: number(parsed.entries.length),
        sent: number(toReplay.length),
      }),
    });
    renderReplay();
  }

  function replay() {
    if (!connection.isOpen) {
      return setFieldError("import", "import-error", "notOpen");
    }
    clearFieldError("import");
    for (const data of toReplay) connection.send(data);
    const count = toReplay.length;
    showCode(() => [
      `// ${t("code.replay", { count })}`,
      `for (const message of recording.entries) {`,
      `  if (message.direction !== "sent") continue;`,
      `  ws.send(message.type === "text" ? message.data : Uint8Array.from(atob(message.data), (c) => c.charCodeAt(0)));`,
      `}`,
    ]);
  }

  $("export").addEventListener("click", exportRecording);
  $("import").addEventListener("click", () => $("import-file").click());
  $("import-file").addEventListener("change", importRecording);
  $("replay").addEventListener("click", replay);
  onLanguage(renderReplay);
}
