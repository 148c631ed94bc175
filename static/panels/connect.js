/**
 * The Connection panel: the URL and Connect, close() with a code and reason,
 * and the failure box that says in words why a connection never opened or
 * was closed by the server.
 *
 * @module
 */
import { checkCloseCode, checkReason, checkUrl } from "../format.js";
import { diagnose } from "../diagnose.js";
import { badOptions, choiceList } from "../bad_options.js";
import {
  $,
  announce,
  clearFieldError,
  language,
  nodesText,
  onLanguage,
  setFieldError,
  showCode,
  showOpeningCode,
  size,
  t,
  tNodes,
} from "../page.js";
import { readProtocols, syncPageUrl } from "./options.js";
import { closeCodeRow } from "../entries.js";

/**
 * `text` as nodes, with each occurrence of `url` made a link that opens in
 * a new tab (the failure box says "open … in a new tab").
 */
function withLinks(text, url) {
  if (!url || !text.includes(url)) return [text];
  const nodes = [];
  for (const [i, part] of text.split(url).entries()) {
    if (i > 0) {
      const link = document.createElement("a");
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.textContent = url;
      nodes.push(link);
    }
    if (part) nodes.push(part);
  }
  return nodes;
}

/**
 * The failure box is under the stream panel's header (index.html), in view
 * right after Connect on most phones (390x844) and beside the controls on a
 * desktop. Where it appears below the screen (320x640: the stream starts
 * there), `pointer`, one line at the screen's bottom, says it is there until
 * the box has been on the screen or the pointer is pressed (it scrolls to
 * the box). The page keeps room for the pointer when it scrolls a focused
 * control into view (`--failure-room`, scroll-padding-bottom).
 * @param {HTMLElement} box
 * @param {HTMLButtonElement} pointer
 * @returns {{ update(fresh?: boolean): void }} call with `fresh` for a new failure
 */
function pointWhileBelow(box, pointer) {
  /** Whether the failure shown now has been on the screen. */
  let seen = false;
  const update = (fresh = false) => {
    // Read here, not kept from the observer: it reports crossings only, and
    // a box shown below the screen (hidden before) crosses nothing.
    const { top, bottom } = box.getBoundingClientRect();
    const onScreen = !box.hidden && top < innerHeight && bottom > 0;
    if (fresh || onScreen) seen = onScreen;
    const show = !box.hidden && !seen && top >= innerHeight;
    pointer.hidden = !show;
    document.documentElement.style.setProperty(
      "--failure-room",
      `${show ? pointer.offsetHeight + 16 : 0}px`,
    );
  };
  new IntersectionObserver(() => update()).observe(box);
  // A jump (a link, Home) can pass the box without crossing the screen.
  addEventListener("scroll", () => {
    if (!pointer.hidden) update();
  }, { passive: true });
  pointer.addEventListener("click", () => {
    seen = true;
    update();
    box.scrollIntoView({ block: "nearest" });
  });
  return { update };
}

/**
 * Binds the panel.
 * @param {object} ctx
 * @param {import("../connection.js").Connection} ctx.connection
 */
export function mountConnectPanel({ connection }) {
  /** What the failure box says, as keys, or undefined when hidden. */
  let failure;
  const pointer = pointWhileBelow($("failure"), $("failure-pointer"));

  function showFailure(next) {
    const fresh = next !== undefined && failure === undefined;
    failure = next;
    // A new failure starts with the server's words folded again.
    $("failure-words").open = false;
    renderFailure();
    pointer.update(fresh);
  }

  function renderFailure() {
    const box = $("failure");
    if (!failure) {
      box.hidden = true;
      return;
    }
    const title = t(failure.title, failure.values);
    $("failure-title").textContent = title;
    $("failure-pointer").textContent = `↓ ${title}`;
    $("failure-detail").replaceChildren(...detailNodes(failure));
    $("failure-body").textContent = failure.body ?? "";
    $("failure-words").hidden = !failure.body;
    // Its title goes with the words (an asked-for refusal lists no options);
    // data-i18n keeps it on a language switch.
    const summary = $("failure-words").querySelector("summary");
    summary.dataset.i18n = failure.wordsTitle ?? "failure.serverWords";
    summary.textContent = t(summary.dataset.i18n);
    box.hidden = false;
  }

  /** The failure's sentence in the page's language, as nodes. */
  function detailNodes({ detail, values, problems }) {
    if (!problems) {
      return tNodes(detail, values, (text) => withLinks(text, values.httpUrl));
    }
    return problems.flatMap((problem, i) => [
      ...(i > 0 ? [" "] : []),
      ...tNodes(i === 0 ? detail : "failure.badOptionToo", {
        ...values,
        option: problem.option,
        value: problem.value,
        why: t(problem.key, whyValues(problem.values)),
      }),
    ]);
  }

  /** A problem's values, its alternatives quoted in the page's language. */
  function whyValues(values) {
    if (values.choices === undefined) return values;
    const words = {
      open: t("quote.open"),
      close: t("quote.close"),
      empty: t("badOption.empty"),
    };
    return {
      ...values,
      choices: choiceList(values.choices, language(), words),
    };
  }

  async function explainFailure(url, current) {
    const values = { url };
    showFailure({ title: "failure.title", detail: "failure.checking", values });
    // diagnose() catches network failures itself; anything else is a bug to show.
    const found = await diagnose(url).catch((error) => ({
      kind: "status",
      status: error.name,
      body: error.message,
      httpUrl: url,
    }));
    if (connection.socket !== current) return;
    const target = new URL(url);
    const body = found.body?.trim();
    Object.assign(values, {
      status: found.status ?? "",
      body: body?.split("\n")[0] ?? "",
      httpUrl: found.httpUrl,
      host: target.host,
      path: target.pathname,
      origin: location.origin,
      perIp: found.perIp ?? "",
      port: found.port ?? "",
      retryAfter: found.retryAfter ?? "",
      plainUrl: found.plainUrl ?? "",
    });
    // A 400 for options is said in the page's language, option by option,
    // and the server's words (every option's help) go in the disclosure.
    const problems = found.kind === "bad-request"
      ? badOptions(body ?? "", target.searchParams)
      : [];
    if (problems.length > 0) {
      showFailure({
        title: "failure.title",
        detail: "failure.badOption",
        values,
        problems,
        body,
      });
    } else if (found.kind === "asked") {
      // The page says what the server's words would repeat ("Status 503 was
      // asked for ... a test, not a fault"): they go in the disclosure.
      showFailure({
        title: "failure.title",
        detail: found.retryAfter ? "failure.askedRetry" : "failure.asked",
        values,
        body,
        wordsTitle: "failure.serverSaid",
      });
    } else {
      // The first line is quoted in the detail; the box adds only the rest.
      const rest = body?.split("\n").slice(1).join("\n").trim();
      showFailure({
        title: "failure.title",
        detail: `failure.${found.kind}`,
        values,
        ...(rest ? { body: rest } : {}),
      });
    }
    // Said once, in the box; the stream keeps what the browser reported.
    announce(nodesText(detailNodes(failure)));
  }

  function connect() {
    clearFieldError("url");
    clearFieldError("protocol");
    showFailure(undefined);
    const checkedUrl = checkUrl($("url").value);
    if (checkedUrl.error) {
      return setFieldError("url", "url-error", checkedUrl.error);
    }
    const checked = readProtocols();
    if (checked.error) {
      return setFieldError("protocol", "protocol-error", checked.error, {
        value: checked.value,
      });
    }
    const url = checkedUrl.url.href;
    const protocols = checked.protocols;
    try {
      connection.open(checkedUrl.url, protocols);
    } catch (error) {
      // checkUrl and checkProtocols should leave nothing to throw here.
      return setFieldError("url", "url-error", "failure.status", {
        status: error.name,
        body: error.message,
      });
    }
    syncPageUrl();
    showOpeningCode([
      `const ws = new WebSocket(${JSON.stringify(url)}${
        protocols.length ? `, ${JSON.stringify(protocols)}` : ""
      });`,
      `ws.binaryType = "arraybuffer";`,
      `ws.onopen = () => console.log("open", ws.readyState); // 1`,
      `ws.onmessage = (event) => console.log("message", event.data);`,
      `ws.onerror = () => console.log("error");`,
      `ws.onclose = (event) => console.log("close", event.code, event.reason, event.wasClean);`,
    ]);
  }

  connection.addEventListener("close", ({ detail }) => {
    const { code, reason, url } = detail;
    const row = closeCodeRow(code);
    for (const marked of document.querySelectorAll(".close-codes .current")) {
      marked.classList.remove("current");
    }
    if (row) $(row).classList.add("current");
    if (!detail.opened) {
      explainFailure(url, connection.socket);
    } else if (code === 1006 && detail.unanswered > 0) {
      // The server's close frame was queued behind the echoes and lost.
      const values = { waiting: size(detail.unanswered), url };
      showFailure({
        title: "failure.dropped",
        detail: "failure.droppedBusy",
        values,
      });
      announce(t("failure.droppedBusy", values));
    } else if (
      !detail.closedByPage && code !== 1000 && (reason || row)
    ) {
      // A limit or other server close: its reason, and what the code means.
      const values = { code, reason, url };
      showFailure({
        title: "failure.limit",
        detail: row ? `close.${row.slice("close-".length)}` : "",
        values,
      });
      announce(t("failure.limit", values));
    }
  });

  // --- Closing -----------------------------------------------------------

  /** Checks Code and Reason as the user types, so close() never throws. */
  function checkCloseFields() {
    const code = checkCloseCode($("close-code").value);
    const reason = checkReason($("close-reason").value);
    $("reason-bytes").textContent = t("reasonBytes", { bytes: reason.bytes });
    clearFieldError("close-code");
    clearFieldError("close-reason");
    if (code.error) {
      setFieldError("close-code", "close-error", code.error, {
        value: $("close-code").value.trim(),
      });
    } else if (reason.error) {
      setFieldError("close-reason", "close-error", reason.error, {
        bytes: reason.bytes,
      });
    }
    return code.error || reason.error
      ? undefined
      : { code: code.code, reason: reason.reason };
  }

  function closeSocket() {
    const checked = checkCloseFields();
    const socket = connection.socket;
    if (!checked || !socket || socket.readyState >= WebSocket.CLOSING) return;
    const { reason } = checked;
    // A reason needs a code; 1000 is what close() means without one.
    const code = checked.code ?? (reason ? 1000 : undefined);
    try {
      connection.close(code, reason);
    } catch (error) {
      return setFieldError("close-code", "close-error", "failure.status", {
        status: error.name,
        body: error.message,
      });
    }
    showCode(() => [
      code === undefined
        ? `ws.close(); // ${t("code.closing")}`
        : `ws.close(${code}, ${JSON.stringify(reason)}); // ${
          t("code.closeAnswer")
        }`,
    ]);
  }

  onLanguage(() => {
    $("reason-bytes").textContent = t("reasonBytes", {
      bytes: checkReason($("close-reason").value).bytes,
    });
    renderFailure();
  });

  $("url").addEventListener("input", () => clearFieldError("url"));
  $("url").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !$("connect").disabled) connect();
  });
  $("connect").addEventListener("click", connect);
  $("close").addEventListener("click", closeSocket);
  $("close-code").addEventListener("input", checkCloseFields);
  $("close-reason").addEventListener("input", checkCloseFields);
  for (const id of ["close-code", "close-reason"]) {
    $(id).addEventListener("keydown", (event) => {
      if (event.key === "Enter") closeSocket();
    });
  }
}
