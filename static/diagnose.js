/**
 * Why a WebSocket never opened. The browser hides the refused handshake (every
 * failure is "error" then close 1006), so the page asks the same URL again
 * over http(s) with fetch(), which does show a status and body. The server
 * answers a plain GET of a working endpoint with 426; then /healthz and
 * /limits tell a full server from a per-IP cap.
 *
 * @module
 */

import { BAD_PORTS } from "./format.js";

const TIMEOUT_MS = 3000;

/**
 * @typedef {object} Diagnosis
 * @property {string} kind one of: cross-origin, unreachable, asked,
 *   bad-request, not-found, origin, too-many, likely-too-many, busy, full,
 *   shutting-down, upgrade-refused, not-websocket, status, unsafe-port,
 *   tls-on-plain ("asked": the URL's `status=` asked for this refusal;
 *   "tls-on-plain": wss:// to the plain server that sent the page)
 * @property {number} [status] the HTTP status the server answered with
 * @property {string} [body] what it said (the first 600 characters)
 * @property {string} httpUrl the URL that was fetched
 * @property {number} [perIp] MAX_CONNECTIONS_PER_IP, when known
 * @property {number} [port] the port a browser refuses (unsafe-port)
 * @property {string} [retryAfter] the Retry-After header of an asked-for
 *   refusal, in seconds as sent
 * @property {string} [plainUrl] the ws:// URL to try instead (tls-on-plain)
 */

/** The http(s) twin of a ws(s) URL. */
export function httpTwin(wsUrl) {
  const url = new URL(wsUrl);
  url.protocol = url.protocol === "wss:" ? "https:" : "http:";
  return url;
}

async function getText(url) {
  const response = await fetch(url, {
    cache: "no-store",
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  return {
    status: response.status,
    body: (await response.text()).trim(),
    retryAfter: response.headers.get("retry-after"),
  };
}

async function getJson(url) {
  try {
    const response = await fetch(url, {
      cache: "no-store",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    return response.ok ? await response.json() : undefined;
  } catch {
    return undefined;
  }
}

const KIND_BY_STATUS = {
  400: "bad-request",
  403: "origin",
  404: "not-found",
  429: "too-many",
};

/**
 * Finds out why an upgrade to `wsUrl` failed. Only same-origin URLs are
 * fetched: the page's Content-Security-Policy allows no other.
 * @param {string} wsUrl
 * @returns {Promise<Diagnosis>}
 */
export async function diagnose(wsUrl) {
  const http = httpTwin(wsUrl);
  const httpUrl = http.href;
  const port = Number(http.port || (http.protocol === "https:" ? 443 : 80));
  if (BAD_PORTS.has(port)) return { kind: "unsafe-port", httpUrl, port };
  // wss:// to the plain server that sent this page: its TLS handshake met
  // plain HTTP. Say what to try, not "another server" (newcomer10).
  const pagePort = Number(
    location.port || (location.protocol === "https:" ? 443 : 80),
  );
  if (
    http.protocol === "https:" && location.protocol === "http:" &&
    http.hostname === location.hostname && port === pagePort
  ) {
    const plain = new URL(wsUrl);
    plain.protocol = "ws:";
    return { kind: "tls-on-plain", httpUrl, plainUrl: plain.href };
  }
  if (http.origin !== location.origin) return { kind: "cross-origin", httpUrl };
  let answer;
  try {
    answer = await getText(http);
  } catch {
    return { kind: "unreachable", httpUrl };
  }
  const { status } = answer;
  const body = answer.body.slice(0, 600);
  // A refusal the URL asked for is said as such first, whatever its status
  // (it read "Server busy ... retry in a little while", then "a test").
  if (
    http.searchParams.get("status") === String(status) &&
    body.startsWith(`Status ${status} was asked for`)
  ) {
    return {
      kind: "asked",
      status,
      body,
      ...(answer.retryAfter ? { retryAfter: answer.retryAfter } : {}),
      httpUrl,
    };
  }
  if (KIND_BY_STATUS[status]) {
    return { kind: KIND_BY_STATUS[status], status, body, httpUrl };
  }
  if (status === 503) {
    return {
      kind: /shutting down/i.test(body) ? "shutting-down" : "busy",
      status,
      body: answer.retryAfter
        ? `${body} (Retry-After: ${answer.retryAfter} s)`
        : body,
      httpUrl,
    };
  }
  if (status !== 426) {
    return {
      kind: status < 300 ? "not-websocket" : "status",
      status,
      body,
      httpUrl,
    };
  }
  // 426: the endpoint takes WebSockets, so this connection in particular was
  // refused (403 origin, 429 per-IP cap or 503 full): ask what the server can say.
  const [health, limits] = await Promise.all([
    getJson(new URL("/healthz", http)),
    getJson(new URL("/limits", http)),
  ]);
  const max = limits?.limits?.maxConnections;
  const perIp = limits?.limits?.maxConnectionsPerIp;
  const open = health?.connections;
  if (health?.status === "shutting_down") {
    return { kind: "shutting-down", status, httpUrl };
  }
  if (max && !max.off && typeof open === "number" && open >= max.value) {
    return { kind: "full", status, httpUrl };
  }
  if (perIp && !perIp.off && typeof open === "number" && open >= perIp.value) {
    return { kind: "likely-too-many", status, httpUrl, perIp: perIp.value };
  }
  return { kind: "upgrade-refused", status, httpUrl };
}
