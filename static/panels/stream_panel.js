/**
 * The Messages panel: what the connection sends, receives and goes through,
 * written into the {@link MessageStream}, with its count, Follow and Clear.
 *
 * @module
 */
import { MessageStream } from "../stream.js";
import { describe } from "../entries.js";
import { utcOffset } from "../format.js";
import { $, gap, number, onLanguage, size, t } from "../page.js";
import { closeCodeRow } from "./connect.js";

/**
 * Creates the stream and binds it to the connection.
 * @param {object} ctx
 * @param {import("../connection.js").Connection} ctx.connection
 * @returns {MessageStream}
 */
export function mountStreamPanel({ connection }) {
  let status = { total: 0, shown: 0, unseen: 0, follow: true };

  function renderStatus(next = status) {
    status = next;
    $("stream-count").textContent = status.total === 0
      ? ""
      : t("stream.count", {
        shown: number(status.shown),
        total: number(status.total),
      });
    const follow = $("follow");
    follow.hidden = status.follow || status.unseen === 0;
    follow.textContent = t("stream.new", { count: number(status.unseen) });
  }

  const stream = new MessageStream($("log"), {
    t,
    size,
    gap,
    onChange: renderStatus,
  });

  connection.addEventListener("open", ({ detail }) => {
    stream.add({
      kind: "open",
      summary: t("openDetail", { protocol: JSON.stringify(detail.protocol) }),
    });
  });
  connection.addEventListener("message", ({ detail }) => {
    stream.add(describe("message", detail.data));
  });
  connection.addEventListener("sent", ({ detail }) => {
    stream.add(describe("send", detail.data));
  });
  connection.addEventListener("burst", ({ detail }) => {
    const { payload, count } = detail;
    stream.add({
      kind: "send",
      bytes: count * payload.length,
      summary: t("burstSent", {
        count,
        size: payload.length / 1024,
        buffered: size(connection.bufferedAmount),
      }),
    });
  });
  connection.addEventListener("error", () => {
    stream.add({ kind: "error", summary: t("errorDetail") });
  });
  connection.addEventListener("close", ({ detail }) => {
    const { code, reason, wasClean, opened } = detail;
    let summary = t("closeDetail", {
      code,
      reason: JSON.stringify(reason),
      clean: wasClean,
    });
    if (code === 1006) {
      summary += ` (${t(opened ? "closeDropped" : "closeNeverOpened")})`;
    }
    const row = closeCodeRow(code);
    stream.add({
      kind: "close",
      summary,
      ...(row ? { link: `#${row}`, linkText: t("explainCode", { code }) } : {}),
    });
  });

  onLanguage(() => {
    $("stream-legend").textContent = t("stream.legend", {
      zone: utcOffset(new Date()),
    });
    renderStatus();
    stream.relabel();
  });
  $("clear-log").addEventListener("click", () => stream.clear());
  $("follow").addEventListener("click", () => stream.follow());
  return stream;
}
