/**
 * Test helpers: a real server on 127.0.0.1 port 0, WebSocket clients that
 * resolve on events, and a raw TCP client for requests browsers cannot make.
 *
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { createApp } from "../main.ts";
import { parseConfig } from "../lib/config.ts";
import type { Services } from "../lib/services.ts";
import { type RunningServer, startServer } from "../lib/server.ts";

/** A server started for one test; `await using` stops it. */
export interface TestServer extends AsyncDisposable {
  server: RunningServer;
  services: Services;
  port: number;
  http: string;
  ws: string;
  /** Every line the app logged. */
  logs: string[];
}

/** Starts the service on 127.0.0.1 port 0 with `env` on top of the defaults. */
export function startTestServer(
  env: Record<string, string> = {},
): TestServer {
  const logs: string[] = [];
  const echoApp = createApp(
    parseConfig({ HOSTNAME: "127.0.0.1", ...env, PORT: "0" }),
    { log: (line) => logs.push(line) },
  );
  const server = startServer(echoApp);
  const port = server.addr.port;
  return {
    server,
    services: echoApp.services,
    port,
    http: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}`,
    logs,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

/** Opens a WebSocket with binaryType "arraybuffer"; rejects if it fails. */
export function openWebSocket(
  url: string,
  protocols?: string | string[],
): Promise<WebSocket> {
  const socket = new WebSocket(url, protocols);
  socket.binaryType = "arraybuffer";
  return new Promise((resolve, reject) => {
    socket.onopen = () => resolve(socket);
    socket.onerror = () => reject(new Error(`Cannot connect to ${url}`));
  });
}

/** Collects messages as they arrive, so none is missed between awaits. */
export class Inbox {
  readonly #queue: Array<string | ArrayBuffer> = [];
  readonly #waiters: Array<(data: string | ArrayBuffer) => void> = [];
  /** Resolves with the close event. */
  readonly closed: Promise<CloseEvent>;

  constructor(socket: WebSocket) {
    socket.addEventListener("message", (event) => {
      const waiter = this.#waiters.shift();
      if (waiter) waiter(event.data);
      else this.#queue.push(event.data);
    });
    this.closed = new Promise((resolve) =>
      socket.addEventListener("close", resolve, { once: true })
    );
  }

  /** The next message, in arrival order. */
  next(): Promise<string | ArrayBuffer> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Messages that arrived and were not taken yet. */
  get pending(): number {
    return this.#queue.length;
  }
}

/** Opens a socket and its inbox together. */
export async function connect(
  url: string,
  protocols?: string | string[],
): Promise<{ socket: WebSocket; inbox: Inbox }> {
  const socket = await openWebSocket(url, protocols);
  return { socket, inbox: new Inbox(socket) };
}

/** Closes a socket and waits for the close handshake to finish. */
export async function closeAndWait(
  socket: WebSocket,
  inbox: Inbox,
): Promise<CloseEvent> {
  if (socket.readyState < WebSocket.CLOSING) socket.close();
  return await inbox.closed;
}

/** A raw HTTP response: status, lowercase headers, body text. */
export interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Writes all of `bytes` (a TCP write may take only part of them). */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array) {
  let offset = 0;
  while (offset < bytes.length) {
    offset += await conn.write(bytes.subarray(offset));
  }
}

/**
 * Sends `request` as raw bytes and reads the response head and, when it has
 * Content-Length, its body. The connection is closed afterwards.
 */
export async function rawRequest(
  port: number,
  request: string | Uint8Array,
): Promise<RawResponse> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await writeAll(
      conn,
      typeof request === "string" ? encoder.encode(request) : request,
    );
    return await readResponse(conn);
  } finally {
    conn.close();
  }
}

/** Reads one HTTP response head (and body with Content-Length) from `conn`. */
export async function readResponse(conn: Deno.Conn): Promise<RawResponse> {
  let text = "";
  const chunk = new Uint8Array(16 * 1024);
  let headEnd = -1;
  while (headEnd < 0) {
    const n = await conn.read(chunk);
    if (n === null) throw new Error(`Connection closed mid-response: ${text}`);
    text += decoder.decode(chunk.subarray(0, n), { stream: true });
    headEnd = text.indexOf("\r\n\r\n");
  }
  const [statusLine = "", ...lines] = text.slice(0, headEnd).split("\r\n");
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers.set(
      line.slice(0, colon).trim().toLowerCase(),
      line.slice(colon + 1).trim(),
    );
  }
  const status = Number(statusLine.split(" ")[1]);
  let body = text.slice(headEnd + 4);
  const length = Number(headers.get("content-length") ?? 0);
  while (encoder.encode(body).length < length) {
    const n = await conn.read(chunk);
    if (n === null) break;
    body += decoder.decode(chunk.subarray(0, n), { stream: true });
  }
  return { status, headers, body };
}

/** A valid opening handshake for `path`, with extra header lines. */
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

/**
 * Completes an opening handshake over raw TCP and returns the connection, for
 * clients a browser-style WebSocket cannot imitate (one that never reads, say).
 */
export async function openRawWebSocket(
  port: number,
  headers: Record<string, string> = {},
): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await writeAll(conn, encoder.encode(upgradeRequest("/echo", headers)));
  const response = await readResponse(conn);
  assert.equal(response.status, 101, `handshake refused: ${response.body}`);
  return conn;
}

/** The project folder. */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url));

/** The arguments after `deno` in `deno task start`, read from deno.json. */
export async function startTaskArgs(): Promise<string[]> {
  const denoJson = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  const [deno, ...args] = (denoJson.tasks.start as string).split(/\s+/);
  assert.equal(deno, "deno");
  return args;
}

/** A masked client frame (RFC 6455 §5.2) with a zero mask key. */
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

/** Waits until `condition()` holds, checking after each macrotask; fails after `ms`. */
export async function until(
  condition: () => boolean,
  what: string,
  ms = 5000,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`Timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
