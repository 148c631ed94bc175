/**
 * The "More to send" panel: bytes from hex, random bytes, a burst within
 * what the server lets a client leave waiting (Send "Goodbye" sits beside
 * Send, in the send() panel).
 *
 * @module
 */
import { parseHex } from "../format.js";
import {
  $,
  clearFieldError,
  onLanguage,
  sendFrom,
  setFieldError,
  showCode,
  size,
  t,
} from "../page.js";

/** Largest file the page reads into memory to send, in bytes. */
const FILE_MAX = 16 * 1048576;
/** The most a burst may send: the page's own maximum. */
const BURST_MAX = 200;

/** `length` random bytes (getRandomValues fills at most 64 KiB a call). */
export function randomBytes(length) {
  const bytes = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, offset + 65536));
  }
  return bytes;
}

/** The JavaScript that sends `bytes` as one binary message. */
export function binaryCode(bytes) {
  const array = `new Uint8Array([${[...bytes.subarray(0, 64)].join(", ")}${
    bytes.length > 64 ? ", /* … */" : ""
  }])`;
  return () => [`ws.send(${array}); // ${t("code.binary")}`];
}

/**
 * Binds the panel.
 * @param {object} ctx
 * @param {import("../connection.js").Connection} ctx.connection
 * @param {{ limits?: object }} ctx.server what /limits said, once it answers
 */
export function mountMorePanel({ connection, server }) {
  /**
   * The most a burst may add to the echoes still on their way: half the
   * server's MAX_BUFFERED_BYTES, so the page itself never trips the
   * slow-reader limit (whose close frame then gets lost behind the echoes).
   */
  function burstBudget() {
    const limit = server.limits?.maxBufferedBytes;
    if (limit?.off) return BURST_MAX * 65536;
    return Math.floor((limit?.value ?? 4194304) / 2);
  }

  function sendBurst() {
    if (!connection.isOpen) {
      return setFieldError("burst-count", "burst-error", "notOpen");
    }
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
    if (connection.outstanding + count * kib * 1024 > budget) {
      return setFieldError(
        "burst-count",
        "burst-error",
        "invalid.burstBudget",
        {
          total: size(count * kib * 1024),
          budget: size(budget),
          waiting: size(connection.outstanding),
        },
      );
    }
    clearFieldError("burst-count");
    connection.sendMany(randomBytes(kib * 1024), count);
    showCode(() => [
      `const payload = new Uint8Array(${kib * 1024});`,
      `for (let i = 0; i < ${count}; i++) ws.send(payload);`,
      `console.log(ws.bufferedAmount); // ${t("code.drains")}`,
    ]);
  }

  function renderBurstHint() {
    const hint = $("burst-hint");
    const buffered = server.limits?.maxBufferedBytes;
    const burst = server.limits?.rateLimitByteBurst;
    hint.hidden = !buffered || !burst || buffered.off || burst.off;
    if (!hint.hidden) {
      hint.textContent = t("burstHint", {
        buffered: size(buffered.value),
        burst: size(burst.value),
      });
    }
  }

  $("send-hex").addEventListener("click", () => {
    const bytes = parseHex($("hex").value);
    if (!bytes) return setFieldError("hex", "hex-error", "invalid.hex");
    clearFieldError("hex");
    sendFrom(connection, bytes, {
      code: binaryCode(bytes),
      inputId: "hex",
      errorId: "hex-error",
    });
  });
  $("send-file").addEventListener("click", async () => {
    const file = $("file").files?.[0];
    if (!file) return setFieldError("file", "file-error", "invalid.noFile");
    if (file.size > FILE_MAX) {
      return setFieldError("file", "file-error", "invalid.fileSize", {
        size: size(file.size),
        max: size(FILE_MAX),
      });
    }
    const bytes = new Uint8Array(await file.arrayBuffer());
    const length = bytes.length;
    sendFrom(connection, bytes, {
      code: () => [
        `const file = document.querySelector("input[type=file]").files[0];`,
        `ws.send(await file.arrayBuffer()); // ${
          t("code.binaryOf", { size: size(length) })
        }`,
      ],
      inputId: "file",
      errorId: "file-error",
    });
  });
  /**
   * A chosen file over the server's MAX_MESSAGE_BYTES may still be sent (to
   * see the 1009 close), but the page says so before it goes.
   */
  function renderFileHint() {
    const hint = $("file-hint");
    const file = $("file").files?.[0];
    const limit = server.limits?.maxMessageBytes;
    hint.hidden = !file || !limit || limit.off || file.size <= limit.value;
    if (!hint.hidden) {
      hint.textContent = t("fileOverLimit", {
        size: size(file.size),
        max: size(limit.value),
      });
    }
  }
  /** The chosen file's name, or that there is none, in the page's words. */
  function renderFileName() {
    $("file-name").textContent = $("file").files?.[0]?.name ?? t("noFile");
  }
  $("choose-file").addEventListener("click", () => $("file").click());
  $("file").addEventListener("change", () => {
    clearFieldError("file");
    renderFileName();
    renderFileHint();
  });
  $("send-random").addEventListener("click", () => {
    const length = Math.min(
      Math.max(Math.round(Number($("random-size").value)) || 0, 0),
      1048576,
    );
    sendFrom(connection, randomBytes(length), {
      code: () => [
        `const bytes = new Uint8Array(${length});`,
        `crypto.getRandomValues(bytes); // ${t("code.randomLimit")}`,
        `ws.send(bytes);`,
      ],
      inputId: "random-size",
      errorId: "hex-error",
    });
  });
  $("send-burst").addEventListener("click", sendBurst);
  onLanguage(renderBurstHint);
  onLanguage(renderFileHint);
  onLanguage(renderFileName);
  return { renderBurstHint };
}
