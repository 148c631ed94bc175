/**
 * The demo page: one WebSocket at a time (connection.js), every property
 * and event shown as it changes, and every failure explained in words. Each
 * panel is a module in panels/ that binds its own controls; this file only
 * assembles them. Received data is only ever written with textContent.
 *
 * @module
 */
import { Connection } from "./connection.js";
import { Charts } from "./charts.js";
import {
  $,
  applyLanguage,
  language,
  number,
  onLanguage,
  setLanguage,
  size,
  t,
  tNodes,
} from "./page.js";
import { mountOptions, syncPageUrl } from "./panels/options.js";
import { mountConnectPanel } from "./panels/connect.js";
import { mountStreamPanel } from "./panels/stream_panel.js";
import { mountComposer } from "./panels/composer.js";
import { mountMorePanel } from "./panels/more.js";
import { mountStatePanel } from "./panels/state.js";
import { mountHandshakePanel } from "./panels/handshake.js";
import { mountRecordingPanel } from "./panels/recording.js";
import { mountRoomPanel } from "./room.js";

/** What the server said about itself: /limits, once it answers. */
const server = { limits: undefined };
const connection = new Connection();
const charts = new Charts(
  {
    rtt: $("rtt-chart"),
    flow: $("flow-chart"),
    rttSummary: $("rtt-summary"),
    flowSummary: $("flow-summary"),
  },
  t,
  { size, number },
);

// The static texts first, so every panel's own re-render comes after them.
onLanguage(() => {
  document.documentElement.lang = language();
  document.title = t("docTitle");
  for (const element of document.querySelectorAll("[data-i18n]")) {
    element.replaceChildren(...tNodes(element.dataset.i18n));
  }
  for (const element of document.querySelectorAll("[data-i18n-placeholder]")) {
    element.placeholder = t(element.dataset.i18nPlaceholder);
  }
  $("lang").value = language();
});

mountOptions();
const messages = mountStreamPanel({ connection });
mountConnectPanel({ connection });
mountRecordingPanel({ connection, messages });
const composer = mountComposer({ connection });
const more = mountMorePanel({ connection, server });
mountHandshakePanel();
mountRoomPanel();
mountStatePanel({ connection, charts, canResend: composer.canResend });
onLanguage(syncPageUrl);

$("lang").addEventListener("change", (event) => {
  setLanguage(event.target.value);
});
applyLanguage();

fetch("/limits", { cache: "no-store" })
  .then(async (response) => {
    if (response.ok) server.limits = (await response.json()).limits;
  })
  .catch(() => {
    // The burst hint is left out; nothing else depends on it.
  })
  .finally(() => more.renderBurstHint());
