/**
 * The "Your handshake" panel: a second WebSocket to /inspect, whose first
 * message describes the opening handshake as the server received it, and
 * the server's limits in the page's language.
 *
 * @module
 */
import { MESSAGES } from "../i18n.js";
import { checkUrl } from "../format.js";
import {
  $,
  clearFieldError,
  language,
  number,
  onLanguage,
  setFieldError,
  showProgram,
  size,
  t,
} from "../page.js";
import { readProtocols } from "./options.js";

/**
 * A setting's name as nodes that wrap only after an underscore
 * (`RATE_LIMIT_BYTE_` / `BURST`): at 390 px the cell broke it anywhere
 * (`RATE_LIMIT_BYTE_BURS` / `T`). `<wbr>` is not copied with the text.
 * @param {string} name
 * @returns {(string | HTMLElement)[]}
 */
export function settingName(name) {
  return name.split(/(?<=_)/).flatMap((part, i) =>
    i === 0 ? [part] : [document.createElement("wbr"), part]
  );
}

/** A limit's value in words: bytes as KiB/MiB, other counts with their unit. */
export function limitValue(limit) {
  if (limit.off) return t("off");
  if (limit.unit === "bytes") return size(limit.value);
  if (limit.unit === "bytes/s") return `${size(limit.value)}/s`;
  const unit = MESSAGES[language()][`limitUnit.${limit.unit}`] ?? limit.unit;
  const value = typeof limit.value === "number"
    ? number(limit.value)
    : String(limit.value);
  return `${value} ${unit}`;
}

/** Binds the panel. */
export function mountHandshakePanel() {
  /** The last /inspect report, to re-render its units in another language. */
  let report;

  function inspectHandshake() {
    clearFieldError("inspect");
    // Said next to the field and next to this button, which may be far apart.
    const checkedUrl = checkUrl($("url").value);
    if (checkedUrl.error) {
      setFieldError("url", "url-error", checkedUrl.error);
      return setFieldError("inspect", "inspect-error", checkedUrl.error);
    }
    const checked = readProtocols();
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
        report = JSON.parse(event.data);
        showHandshake();
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
    showProgram(() => [
      `const probe = new WebSocket(${JSON.stringify(url.href)}${
        checked.protocols.length ? `, ${JSON.stringify(checked.protocols)}` : ""
      });`,
      `probe.onmessage = (event) => {`,
      `  const report = JSON.parse(event.data); // ${t("code.firstMessage")}`,
      `  console.log(report.client.ip, report.subprotocols, report.extensions);`,
      `  probe.close();`,
      `};`,
    ]);
  }

  function showHandshake() {
    if (!report) return;
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
      code.append(...settingName(limit.env));
      name.append(code);
      const value = document.createElement("td");
      value.textContent = limitValue(limit);
      row.append(name, value);
      return row;
    });
    $("hs-limits").replaceChildren(...rows);
    $("handshake").hidden = false;
  }

  $("inspect").addEventListener("click", inspectHandshake);
  onLanguage(showHandshake);
}
