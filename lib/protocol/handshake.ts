/**
 * Checks a WebSocket opening handshake (RFC 6455 §4.2.1) before it reaches
 * `Deno.upgradeWebSocket`, so every bad request gets its own status and a
 * readable body instead of an exception. It says what is wrong; the refusal
 * catalogue (`lib/refusals.ts`) says how to answer.
 *
 * @module
 */

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

/** What is wrong with a handshake; each reason is a row of `REFUSALS`. */
export type HandshakeFailure =
  | { reason: "plain_http" }
  | { reason: "bad_version"; version: string }
  | { reason: "bad_handshake"; detail: string };

/**
 * Decides whether a request is a valid WebSocket upgrade.
 *
 * @param headers The request headers.
 * @returns The offered subprotocols, or what is wrong.
 * @example A plain GET is no upgrade
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkHandshake } from "./handshake.ts";
 * const result = checkHandshake(new Headers());
 * assert.equal("reason" in result && result.reason, "plain_http");
 * ```
 */
export function checkHandshake(
  headers: Headers,
): AcceptedHandshake | HandshakeFailure {
  if (!tokens(headers.get("upgrade")).includes("websocket")) {
    return { reason: "plain_http" };
  }
  if (!tokens(headers.get("connection")).includes("upgrade")) {
    return badRequest('Connection header must include "Upgrade"');
  }
  const version = headers.get("sec-websocket-version");
  if (version?.trim() !== "13") {
    return { reason: "bad_version", version: version ?? "" };
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

function badRequest(detail: string): HandshakeFailure {
  return { reason: "bad_handshake", detail };
}
