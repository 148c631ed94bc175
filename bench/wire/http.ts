/**
 * HTTP/1.1 on the wire, for the raw clients: the opening handshake request
 * (RFC 6455 §4.1) and the one parser of response heads. No I/O.
 *
 * @module
 */

const encoder = new TextEncoder();
const HEAD_END = encoder.encode("\r\n\r\n");

/**
 * A valid opening handshake for `path`, with extra header lines; a header
 * given as "" is left out.
 *
 * @example Without a key
 * ```ts ignore
 * upgradeRequest("/echo", { "Sec-WebSocket-Key": "" });
 * ```
 */
export function upgradeRequest(
  path = "/echo",
  headers: Record<string, string> = {},
): string {
  const all: Record<string, string> = {
    Host: "127.0.0.1",
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
    ...headers,
  };
  const lines = Object.entries(all)
    .filter(([, value]) => value !== "")
    .map(([name, value]) => `${name}: ${value}`);
  return `GET ${path} HTTP/1.1\r\n${lines.join("\r\n")}\r\n\r\n`;
}

/** True when `request` starts with "HEAD ": its answer has no body. */
export function isHeadRequest(request: Uint8Array): boolean {
  // "HEAD " in ASCII.
  return request[0] === 72 && request[1] === 69 && request[2] === 65 &&
    request[3] === 68 && request[4] === 32;
}

/** A response's status line and headers. */
export interface ResponseHead {
  status: number;
  /** The status line and header lines as text, without the blank line. */
  head: string;
  /** Header values by lowercase name. */
  headers: Map<string, string>;
  /** Where the body (or, after a 101, the first frame) starts in the bytes. */
  bodyStart: number;
}

/** Where `needle` first occurs in `haystack`, or -1. */
function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

/**
 * Parses the response head that starts `bytes`, or returns undefined when its
 * blank line has not arrived yet.
 *
 * @example
 * ```ts ignore
 * parseResponseHead(new TextEncoder().encode("HTTP/1.1 101 OK\r\n\r\n"))?.status; // 101
 * ```
 */
export function parseResponseHead(
  bytes: Uint8Array,
): ResponseHead | undefined {
  const headEnd = indexOf(bytes, HEAD_END);
  if (headEnd < 0) return undefined;
  const head = new TextDecoder().decode(bytes.subarray(0, headEnd));
  const [statusLine = "", ...lines] = head.split("\r\n");
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers.set(
      line.slice(0, colon).trim().toLowerCase(),
      line.slice(colon + 1).trim(),
    );
  }
  return {
    status: Number(statusLine.split(" ")[1]),
    head,
    headers,
    bodyStart: headEnd + HEAD_END.length,
  };
}
