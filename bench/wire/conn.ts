/**
 * The raw client over `Deno.connect`, for requests a browser-style WebSocket
 * cannot make (bad headers, a client that never reads) and for the load
 * generator. Every read has a deadline.
 *
 * @module
 */
import {
  DEFAULT_READ_TIMEOUT_MS,
  type WaitOptions,
  withDeadline,
} from "./deadline.ts";
import { parseFrameHeader } from "./frame.ts";
import { isHeadRequest, parseResponseHead, upgradeRequest } from "./http.ts";

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
/** Bytes asked for per read of a response head: one handshake's worth. */
const HEAD_READ_BYTES = 4 * 1024;
/** Bytes asked for per read of a body or frame. */
const READ_BYTES = 64 * 1024;

/**
 * Linux's default ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`),
 * for when that file cannot be read.
 */
const DEFAULT_EPHEMERAL: readonly [number, number] = [32768, 60999];

/** The ports `connect()` picks a client's source port from, inclusive. */
function ephemeralRange(): readonly [number, number] {
  try {
    const [low, high] = Deno.readTextFileSync(
      "/proc/sys/net/ipv4/ip_local_port_range",
    ).trim().split(/\s+/).map(Number);
    if (low! > 0 && high! >= low!) return [low!, high!];
  } catch {
    // Not Linux, or no read permission: assume Linux's default.
  }
  return DEFAULT_EPHEMERAL;
}

/**
 * A loopback port nothing listens on right now, for a child that must be
 * told its port up front (`deno serve --port`, redis-server, nginx).
 *
 * It is picked outside the ephemeral range. A port the kernel picks for
 * port 0 comes from that range, and between the probe and the child's
 * bind any client's `connect()` may take it as its source port; its
 * TIME-WAIT then blocks a listener there for 60 s even with SO_REUSEADDR
 * (measured: `deno serve --port` failed with "Address already in use"
 * while `ss -ltn` showed no listener, beside 2,411 TIME-WAIT sockets of
 * other tests). Ports below the range are never a source port.
 *
 * @param hostname The address to probe, 127.0.0.1 unless told.
 * @throws When no port below the range could be bound in 200 tries.
 */
export function freePort(hostname = "127.0.0.1"): number {
  const [low] = ephemeralRange();
  const first = 10_000 < low ? 10_000 : 1024;
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = first + Math.floor(Math.random() * (low - first));
    try {
      Deno.listen({ hostname, port }).close();
      return port;
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    }
  }
  throw new Error(`no free port on ${hostname} below ${low} in 200 tries`);
}

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

/** Reads once more, appending to `bytes`; throws if the peer closed. */
async function readMore(
  conn: Deno.Conn,
  bytes: Uint8Array,
  what: string,
  size = READ_BYTES,
): Promise<Uint8Array> {
  const chunk = new Uint8Array(size);
  const n = await conn.read(chunk);
  if (n === null) {
    throw new Deno.errors.UnexpectedEof(
      `Connection closed after ${bytes.length} bytes of ${what}`,
    );
  }
  if (bytes.length === 0) return chunk.subarray(0, n);
  const joined = new Uint8Array(bytes.length + n);
  joined.set(bytes);
  joined.set(chunk.subarray(0, n), bytes.length);
  return joined;
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
  let parsed;
  while ((parsed = parseResponseHead(bytes)) === undefined) {
    bytes = await readMore(conn, bytes, "a response head", HEAD_READ_BYTES);
  }
  const { status, head, headers, bodyStart } = parsed;
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
  try {
    await writeAll(conn, bytes);
    return await readResponse(conn, { ...options, head: isHeadRequest(bytes) });
  } finally {
    conn.close();
  }
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
    for (;;) {
      const header = parseFrameHeader(bytes);
      const end = header && header.headLength + header.payloadLength;
      if (header && end !== undefined && bytes.length >= end) {
        const frame = bytes.slice(0, end);
        return {
          fin: header.fin,
          opcode: header.opcode,
          payload: frame.subarray(header.headLength),
          bytes: frame,
          rest: bytes.slice(end),
        };
      }
      bytes = await readMore(conn, bytes, "a frame");
    }
  };
  return withDeadline(read(), ms, `a frame from ${peerName(conn)}`);
}
