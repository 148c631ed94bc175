/**
 * Checks a WebSocket opening handshake (RFC 6455 §4.2.1) before it reaches
 * `Deno.upgradeWebSocket`, so every bad request gets its own status and a
 * readable body instead of an exception.
 *
 * @module
 */
import type { Refusal } from "../admission/refusals.ts";

/** A handshake that may be upgraded, with the subprotocols the client offered. */
export interface AcceptedHandshake {
  /** Offered subprotocols in the client's order of preference. */
  protocols: string[];
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const KEY = /^[A-Za-z0-9+/]{21}[AQgw]==$/;

/** Splits a comma-separated header into lowercase tokens. */
function tokens(value: string | null): string[] {
  if (value === null) return [];
  return value.split(",").map((token) => token.trim().toLowerCase());
}

/** The `ws:` or `wss:` URL of the endpoint a request was sent to. */
export function webSocketUrl(requestUrl: string, secure?: boolean): string {
  const url = new URL(requestUrl);
  const scheme = secure ?? url.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${url.host}${url.pathname}`;
}

/** The 426 body for a plain HTTP request: how to connect instead. */
export function howToConnect(endpoint: string): string {
  return [
    `${endpoint} is a WebSocket echo endpoint: connect with a WebSocket client.`,
    "",
    "Browser console:",
    `  const ws = new WebSocket("${endpoint}"); ws.onmessage = (e) => console.log(e.data); ws.onopen = () => ws.send("hello");`,
    "",
    "Command line:",
    `  npx wscat -c ${endpoint}`,
    "",
  ].join("\n");
}

/**
 * Decides whether a request is a valid WebSocket upgrade.
 *
 * @param headers The request headers.
 * @param endpoint Gives the `ws:`/`wss:` URL to name in the 426 body; called
 * only for that body, so an accepted handshake parses no URL.
 * @returns The offered subprotocols, or the refusal to send.
 * @example A plain GET is told how to connect
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkHandshake } from "./handshake.ts";
 * const result = checkHandshake(
 *   new Headers(),
 *   () => "ws://localhost:9998/echo",
 * );
 * assert.equal("status" in result && result.status, 426);
 * ```
 */
export function checkHandshake(
  headers: Headers,
  endpoint: () => string,
): AcceptedHandshake | Refusal {
  if (!tokens(headers.get("upgrade")).includes("websocket")) {
    return {
      status: 426,
      reason: "plain_http",
      headers: { Upgrade: "websocket", Connection: "Upgrade" },
      body: howToConnect(endpoint()),
    };
  }
  if (!tokens(headers.get("connection")).includes("upgrade")) {
    return badRequest('Connection header must include "Upgrade"');
  }
  const version = headers.get("sec-websocket-version");
  if (version?.trim() !== "13") {
    return {
      status: 426,
      reason: "bad_version",
      headers: { "Sec-WebSocket-Version": "13" },
      body: `Unsupported Sec-WebSocket-Version "${
        version ?? ""
      }": this server speaks version 13 (RFC 6455)\n`,
    };
  }
  const key = headers.get("sec-websocket-key");
  if (key === null) return badRequest("Missing Sec-WebSocket-Key header");
  if (!KEY.test(key.trim())) {
    return badRequest(
      `Invalid Sec-WebSocket-Key "${
        key.slice(0, 64)
      }": expected 16 random bytes in base64`,
    );
  }
  const offered = headers.get("sec-websocket-protocol");
  const protocols = offered === null
    ? []
    : offered.split(",").map((protocol) => protocol.trim());
  for (const protocol of protocols) {
    if (!TOKEN.test(protocol)) {
      return badRequest(
        `Invalid Sec-WebSocket-Protocol "${
          offered!.slice(0, 64)
        }": expected a comma-separated list of tokens`,
      );
    }
  }
  return { protocols };
}

function badRequest(message: string): Refusal {
  return {
    status: 400,
    reason: "bad_handshake",
    headers: {},
    body: `${message}\n`,
  };
}
