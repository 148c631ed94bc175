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

/**
 * Whether the comma-separated `value` lists `token` (lowercase ASCII),
 * as `tokens(value).includes(token)` answers, without its arrays and
 * strings: every upgrade reads two such headers. Header values are byte
 * strings, where no character but ASCII lowercases to ASCII; a value with
 * a wider one takes the general path.
 */
function hasToken(value: string | null, token: string): boolean {
  if (value === null) return false;
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) > 0xff) return tokens(value).includes(token);
  }
  let start = 0;
  for (;;) {
    const comma = value.indexOf(",", start);
    let end = comma === -1 ? value.length : comma;
    while (start < end && trimmed(value.charCodeAt(start))) start++;
    while (end > start && trimmed(value.charCodeAt(end - 1))) end--;
    if (end - start === token.length) {
      let same = true;
      for (let i = 0; i < token.length; i++) {
        const code = value.charCodeAt(start + i);
        // ASCII A-Z to a-z; no other byte lowercases to ASCII.
        const lower = code >= 0x41 && code <= 0x5a ? code + 0x20 : code;
        if (lower !== token.charCodeAt(i)) same = false;
      }
      if (same) return true;
    }
    if (comma === -1) return false;
    start = comma + 1;
  }
}

/**
 * What `String.prototype.trim` removes, within byte strings: tab, line
 * feed, vertical tab, form feed, carriage return, space, no-break space.
 */
function trimmed(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d) || code === 0xa0;
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
  if (!hasToken(headers.get("upgrade"), "websocket")) {
    return { reason: "plain_http" };
  }
  if (!hasToken(headers.get("connection"), "upgrade")) {
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
