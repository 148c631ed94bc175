/**
 * Room mode: a chat on /room/NAME in its own WebSocket, apart from the echo
 * connection. The name is random unless the page was opened with ?room=NAME
 * (the share link, which joins at once), so strangers do not meet by
 * accident. Others' messages
 * and your own are shown apart; the member count comes from
 * /room/NAME/presence (Server-Sent Events), never from the chat itself.
 * Received data is only ever written with textContent.
 *
 * @module
 */
import {
  $,
  clearFieldError,
  language,
  onLanguage,
  setFieldError,
  showProgram,
  startParams,
  t,
} from "./page.js";

/** The server's rule for a room name. */
const NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** Messages kept on screen; older ones are dropped. */
const KEEP = 200;

/** A random room name: "room-" and 10 letters or digits (about 51 bits). */
export function randomRoomName() {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  return "room-" + Array.from(bytes, (b) => alphabet[b % 36]).join("");
}

/**
 * The page link that opens Room mode in `name`, in this page's language: the
 * people it is sent to read the room's page as the sender does.
 */
export function shareLink(name) {
  const url = new URL(location.pathname, location.origin);
  url.searchParams.set("room", name);
  url.searchParams.set("lang", language());
  return url.href;
}

/** Binds the Room panel. */
export function mountRoomPanel() {
  const state = {
    socket: undefined,
    presence: undefined,
    members: undefined,
    /** The last close, kept as data so a language switch re-renders it. */
    closed: undefined,
  };
  const name = $("room-name");
  const given = startParams.get("room");
  name.value = given && NAME.test(given) ? given : randomRoomName();
  if (given) $("room-panel").scrollIntoView();

  const render = () => {
    const open = state.socket?.readyState === WebSocket.OPEN;
    $("room-join").textContent = t(state.socket ? "room.leave" : "room.join");
    $("room-send").disabled = !open;
    $("room-new").disabled = Boolean(state.socket);
    name.readOnly = Boolean(state.socket);
    const link = shareLink(name.value);
    $("room-link").href = link;
    $("room-link").textContent = link;
    $("room-status").textContent = state.socket
      ? open
        ? t("room.members", { count: state.members ?? "…" })
        : t("room.joining")
      : state.closed
      ? t("room.left", state.closed)
      : t("room.notJoined");
  };

  const add = (kind, text) => {
    const list = $("room-log");
    const item = document.createElement("li");
    item.className = `room-${kind}`;
    const who = document.createElement("span");
    who.className = "who";
    who.dataset.i18nWho = kind;
    who.textContent = t(kind === "own" ? "room.you" : "room.someone");
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    item.append(who, body);
    list.append(item);
    while (list.children.length > KEEP) list.firstElementChild.remove();
    item.scrollIntoView({ block: "nearest" });
  };

  const leave = () => {
    state.presence?.close();
    state.presence = undefined;
    state.members = undefined;
    const socket = state.socket;
    state.socket = undefined;
    if (socket && socket.readyState < WebSocket.CLOSING) socket.close(1000);
    render();
  };

  const join = () => {
    if (!NAME.test(name.value)) {
      setFieldError("room-name", "room-name-error", "room.badName");
      return;
    }
    clearFieldError("room-name");
    state.closed = undefined;
    const room = name.value;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}/room/${room}`;
    const socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    state.socket = socket;
    socket.onopen = render;
    socket.onmessage = (event) => {
      add(
        "other",
        typeof event.data === "string"
          ? event.data
          : t("room.binary", { bytes: event.data.byteLength }),
      );
    };
    socket.onclose = (event) => {
      if (state.socket !== socket) return;
      state.closed = { code: event.code, reason: event.reason || "–" };
      leave();
    };
    state.presence = new EventSource(`/room/${room}/presence`);
    state.presence.addEventListener("presence", (event) => {
      state.members = JSON.parse(event.data).members;
      render();
    });
    showProgram([
      `const room = new WebSocket("${url}");`,
      `room.onmessage = (e) => console.log("someone said", e.data);`,
      `const presence = new EventSource("/room/${room}/presence");`,
      `presence.addEventListener("presence", (e) => console.log(JSON.parse(e.data).members));`,
    ]);
    render();
  };

  $("room-join").addEventListener("click", () => {
    if (state.socket) leave();
    else join();
  });
  $("room-new").addEventListener("click", () => {
    name.value = randomRoomName();
    render();
  });
  name.addEventListener("input", render);
  $("room-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("room-message").value;
    if (!text || state.socket?.readyState !== WebSocket.OPEN) return;
    state.socket.send(text);
    add("own", text);
    $("room-message").value = "";
  });
  $("room-copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(shareLink(name.value));
      $("room-copy").textContent = t("room.copied");
    } catch {
      $("room-copy").textContent = t("room.copyFailed");
    }
  });
  onLanguage(() => {
    $("room-copy").textContent = t("room.copy");
    for (const who of document.querySelectorAll("#room-log .who")) {
      who.textContent = t(
        who.dataset.i18nWho === "own" ? "room.you" : "room.someone",
      );
    }
    render();
  });
  render();
  // A share link is an invitation: opening it joins, as the tab that sent it is
  // in the room already.
  if (given && NAME.test(given)) join();
}
