/**
 * Wire-level RFC 6455 client helpers over raw `Deno.connect`, for requests a
 * browser-style WebSocket cannot make (bad headers, a client that never
 * reads). No imports from the app, so the tests and bench/ share them. Every
 * read has a deadline.
 *
 * @module
 */

/** How long a read waits for the server, in milliseconds, unless told. */
export const DEFAULT_READ_TIMEOUT_MS = 5000;

/** Options for a wait. */
export interface WaitOptions {
  /**
   * Milliseconds before the wait fails with `Deno.errors.TimedOut`.
   *
   * @default {5000}
   */
  timeoutMs?: number;
}

/**
 * Settles like `promise`, or rejects with `Deno.errors.TimedOut` naming
 * `what` after `ms`. The timer is always cleared, so the op sanitizer stays
 * quiet; the caller ends whatever `promise` still waits on (closes the
 * connection, say).
 *
 * @throws {Deno.errors.TimedOut} `Timed out after 5000 ms waiting for <what>`
 * @example Bound a read
 * ```ts ignore
 * const n = await withDeadline(conn.read(chunk), 1000, "the 101 response");
 * ```
 */
export function withDeadline<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Deno.errors.TimedOut(
            `Timed out after ${ms} ms waiting for ${what}`,
          ),
        ),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A raw HTTP response: status, lowercase headers, body text. */
export interface RawResponse {
  status: number;
  /** The status line and header lines as text, without the blank line. */
  head: string;
  headers: Map<string, string>;
  /** The Content-Length bytes as text; without Content-Length, what came with the head; "" for 101. */
  body: string;
  /** Bytes read after the response: for a 101, the first frames. */
  rest: Uint8Array;
}

const encoder = new TextEncoder();
const HEAD_END = encoder.encode("\r\n\r\n");

/** Writes all of `bytes` (a TCP write may take only part of them). */
export async function writeAll(
  conn: Deno.Conn,
  bytes: Uint8Array,
): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    offset += await conn.write(bytes.subarray(offset));
  }
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}

/** Reads once more, appending to `bytes`; throws if the peer closed. */
async function readMore(
  conn: Deno.Conn,
  bytes: Uint8Array,
  what: string,
): Promise<Uint8Array> {
  const chunk = new Uint8Array(64 * 1024);
  const n = await conn.read(chunk);
  if (n === null) {
    throw new Deno.errors.UnexpectedEof(
      `Connection closed after ${bytes.length} bytes of ${what}`,
    );
  }
  return concat(bytes, chunk.subarray(0, n));
}

function peerName(conn: Deno.Conn): string {
  const addr = conn.remoteAddr as Deno.NetAddr;
  return `${addr.hostname}:${addr.port}`;
}

/**
 * Reads one HTTP response head (and body with Content-Length) from `conn`.
 * Each response is decoded on its own, from its bytes.
 *
 * @param leftover Bytes already read from `conn` that start the response.
 * @param head True when the request was HEAD: the answer has no body,
 * whatever its Content-Length says.
 * @throws {Deno.errors.TimedOut} If the whole response takes longer than
 * `timeoutMs`; the caller's `conn.close()` then ends the pending read.
 * @throws {Deno.errors.UnexpectedEof} If the server closes mid-response.
 * @example Read the answer to an upgrade
 * ```ts ignore
 * await writeAll(conn, new TextEncoder().encode(upgradeRequest()));
 * const { status } = await readResponse(conn);
 * ```
 */
export function readResponse(
  conn: Deno.Conn,
  options: WaitOptions & { leftover?: Uint8Array; head?: boolean } = {},
): Promise<RawResponse> {
  const ms = options.timeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  return withDeadline(
    readResponseBytes(
      conn,
      options.leftover ?? new Uint8Array(0),
      options.head ?? false,
    ),
    ms,
    `an HTTP response from ${peerName(conn)}`,
  );
}

async function readResponseBytes(
  conn: Deno.Conn,
  leftover: Uint8Array,
  noBody: boolean,
): Promise<RawResponse> {
  let bytes = leftover;
  let headEnd: number;
  while ((headEnd = indexOf(bytes, HEAD_END)) < 0) {
    bytes = await readMore(conn, bytes, "a response head");
  }
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
  const status = Number(statusLine.split(" ")[1]);
  const bodyStart = headEnd + HEAD_END.length;
  const lengthHeader = headers.get("content-length");
  let bodyEnd = bytes.length;
  if (status === 101 || noBody) bodyEnd = bodyStart;
  else if (lengthHeader !== undefined) {
    bodyEnd = bodyStart + Number(lengthHeader);
    while (bytes.length < bodyEnd) {
      bytes = await readMore(conn, bytes, `a ${lengthHeader}-byte body`);
    }
  }
  return {
    status,
    head,
    headers,
    body: new TextDecoder().decode(bytes.subarray(bodyStart, bodyEnd)),
    rest: bytes.slice(bodyEnd),
  };
}

/** Options for {@linkcode rawRequest}. */
export interface RawRequestOptions extends WaitOptions {
  /**
   * The address to connect to; the server must listen there.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
}

/**
 * Sends `request` as raw bytes on a new connection and reads the response
 * head and, when it has Content-Length, its body. The connection is closed
 * afterwards.
 *
 * @throws {Deno.errors.TimedOut} If no whole response arrives within `timeoutMs`.
 * @example A refused upgrade
 * ```ts ignore
 * const { status } = await rawRequest(port, upgradeRequest("/echo", { "Sec-WebSocket-Version": "8" }));
 * ```
 */
export async function rawRequest(
  port: number,
  request: string | Uint8Array,
  options: RawRequestOptions = {},
): Promise<RawResponse> {
  const hostname = options.hostname ?? "127.0.0.1";
  const conn = await Deno.connect({ hostname, port });
  const bytes = typeof request === "string" ? encoder.encode(request) : request;
  // "HEAD " in ASCII: its answer has no body.
  const head = bytes[0] === 72 && bytes[1] === 69 && bytes[2] === 65 &&
    bytes[3] === 68 && bytes[4] === 32;
  try {
    await writeAll(conn, bytes);
    return await readResponse(conn, { ...options, head });
  } finally {
    conn.close();
  }
}

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

/** Options for {@linkcode openRawWebSocket}. */
export interface RawWebSocketOptions extends RawRequestOptions {
  /**
   * The request target.
   *
   * @default {"/echo"}
   */
  path?: string;
  /** Extra header lines for {@linkcode upgradeRequest}. */
  headers?: Record<string, string>;
}

/** An open raw WebSocket and the bytes that arrived with its 101. */
export interface RawWebSocket {
  conn: Deno.TcpConn;
  /** Frame bytes read together with the 101 response. */
  leftover: Uint8Array;
  /** The 101 response. */
  response: RawResponse;
}

/**
 * Completes an opening handshake over raw TCP and returns the connection, for
 * clients a browser-style WebSocket cannot imitate (one that never reads, say).
 *
 * @throws {Error} If the answer is not 101; the connection is closed.
 * @throws {Deno.errors.TimedOut} If the answer takes longer than `timeoutMs`.
 * @example A client that never reads
 * ```ts ignore
 * const { conn } = await openRawWebSocket(port, { path: "/echo?delay=10" });
 * ```
 */
export async function openRawWebSocket(
  port: number,
  options: RawWebSocketOptions = {},
): Promise<RawWebSocket> {
  const hostname = options.hostname ?? "127.0.0.1";
  const path = options.path ?? "/echo";
  const conn = await Deno.connect({ hostname, port });
  try {
    await writeAll(conn, encoder.encode(upgradeRequest(path, options.headers)));
    const response = await readResponse(conn, options);
    if (response.status !== 101) {
      throw new Error(
        `Handshake for ws://${hostname}:${port}${path} refused with ${response.status}: ${response.body}`,
      );
    }
    return { conn, leftover: response.rest, response };
  } catch (error) {
    conn.close();
    throw error;
  }
}

/**
 * A masked client frame (RFC 6455 §5.2) with a zero mask key.
 *
 * @example A text frame
 * ```ts ignore
 * await writeAll(conn, clientFrame(0x1, new TextEncoder().encode("hi")));
 * ```
 */
export function clientFrame(
  opcode: number,
  payload: Uint8Array,
  fin = true,
): Uint8Array {
  const length = payload.length;
  const extended = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const frame = new Uint8Array(2 + extended + 4 + length);
  frame[0] = (fin ? 0x80 : 0) | opcode;
  const view = new DataView(frame.buffer);
  if (extended === 0) frame[1] = 0x80 | length;
  else if (extended === 2) {
    frame[1] = 0x80 | 126;
    view.setUint16(2, length);
  } else {
    frame[1] = 0x80 | 127;
    view.setBigUint64(2, BigInt(length));
  }
  frame.set(payload, 2 + extended + 4);
  return frame;
}

/** One unmasked server frame. */
export interface ServerFrame {
  fin: boolean;
  opcode: number;
  payload: Uint8Array;
  /** The whole frame as it arrived, header included. */
  bytes: Uint8Array;
  /** Bytes read after this frame. */
  rest: Uint8Array;
}

function headerLength(frame: Uint8Array): number {
  const short = frame[1]! & 0x7f;
  return short < 126 ? 2 : short === 126 ? 4 : 10;
}

/** Where the frame that starts `bytes` ends, or -1 if it has not all arrived. */
function frameEnd(bytes: Uint8Array): number {
  if (bytes.length < 2) return -1;
  const short = bytes[1]! & 0x7f;
  const offset = headerLength(bytes);
  if (bytes.length < offset) return -1;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const length = short < 126
    ? short
    : short === 126
    ? view.getUint16(2)
    : Number(view.getBigUint64(2));
  return bytes.length < offset + length ? -1 : offset + length;
}

/**
 * Reads one server frame (RFC 6455 §5.2, unmasked) from `conn`.
 *
 * @param options.leftover Bytes already read that start the frame (the
 * `leftover` of {@linkcode openRawWebSocket}).
 * @throws {Deno.errors.TimedOut} If the frame takes longer than `timeoutMs`.
 * @example The first echo
 * ```ts ignore
 * const { conn, leftover } = await openRawWebSocket(port);
 * await writeAll(conn, clientFrame(0x1, new TextEncoder().encode("hi")));
 * const { opcode, payload } = await readFrame(conn, { leftover });
 * ```
 */
export function readFrame(
  conn: Deno.Conn,
  options: WaitOptions & { leftover?: Uint8Array } = {},
): Promise<ServerFrame> {
  const ms = options.timeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  const read = async () => {
    let bytes = options.leftover ?? new Uint8Array(0);
    let end: number;
    while ((end = frameEnd(bytes)) < 0) {
      bytes = await readMore(conn, bytes, "a frame");
    }
    const frame = bytes.slice(0, end);
    return {
      fin: (frame[0]! & 0x80) !== 0,
      opcode: frame[0]! & 0x0f,
      payload: frame.subarray(headerLength(frame)),
      bytes: frame,
      rest: bytes.slice(end),
    };
  };
  return withDeadline(read(), ms, `a frame from ${peerName(conn)}`);
}
