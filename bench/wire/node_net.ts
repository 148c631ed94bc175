/**
 * The raw client over `node:net`, which (unlike `Deno.connect`) can bind a
 * client socket's source address (`localAddress`): many loopback clients,
 * each from its own 127.x.y.z, as the soak's bystanders and attackers are.
 * Parses with the same {@linkcode parseResponseHead} as the `Deno.connect`
 * client; every handshake has a deadline.
 *
 * @module
 */
import net from "node:net";
import { parseResponseHead, upgradeRequest } from "./http.ts";

/** Largest response head kept while waiting for its blank line. */
const MAX_HEAD_BYTES = 16 * 1024;

/** A connect or handshake that did not give the response asked for. */
export class ConnectFailed extends Error {
  /** Short outcome for the counters: `status 429`, `timeout`, `ECONNRESET`. */
  readonly outcome: string;
  constructor(outcome: string) {
    super(`Cannot connect: ${outcome}`);
    this.name = "ConnectFailed";
    this.outcome = outcome;
  }
}

/** The error code of a socket error (`ECONNRESET`), else its name, for counters. */
export function errorOutcome(error: unknown): string {
  if (error instanceof ConnectFailed) return error.outcome;
  // A DOMException's code is a number (23 for a timeout): its name says more.
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" ? code : (error as Error).name ?? "error";
}

/** Options for {@linkcode httpOpen}. */
export interface NetOpenOptions {
  port: number;
  /** The server's address. @default {"127.0.0.1"} */
  host?: string;
  /** The source address to bind, a loopback address such as 127.0.3.7. */
  localAddress: string;
  /** Milliseconds until the response head must have arrived. */
  timeoutMs: number;
  /** Every socket opened is added here and removed when it closes, so the caller can destroy what is left. */
  sockets: Set<net.Socket>;
}

/** An answered request: the socket (paused), the status and bytes after the head. */
export interface NetResponse {
  socket: net.Socket;
  status: number;
  rest: Uint8Array;
}

/**
 * Opens a TCP connection from `localAddress`, sends `request` and reads the
 * response head. Resolves with the socket (paused: the caller decides
 * whether to read), the status and any bytes read after the head.
 *
 * @throws {ConnectFailed} On a connection error, a reset or a timeout.
 * @example
 * ```ts ignore
 * const { socket, status } = await httpOpen({ port, localAddress: "127.0.6.1", request: "HEAD /sse HTTP/1.1\r\n\r\n", timeoutMs: 5000, sockets });
 * ```
 */
export function httpOpen(
  options: NetOpenOptions & { request: string },
): Promise<NetResponse> {
  const { promise, resolve, reject } = Promise.withResolvers<NetResponse>();
  const socket = net.connect({
    host: options.host ?? "127.0.0.1",
    port: options.port,
    localAddress: options.localAddress,
  });
  options.sockets.add(socket);
  let settled = false;
  const fail = (outcome: string) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    socket.destroy();
    reject(new ConnectFailed(outcome));
  };
  const timer = setTimeout(() => fail("timeout"), options.timeoutMs);
  let bytes = new Uint8Array(0);
  const onData = (chunk: Uint8Array) => {
    const joined = new Uint8Array(bytes.length + chunk.length);
    joined.set(bytes);
    joined.set(chunk, bytes.length);
    bytes = joined;
    const head = parseResponseHead(bytes);
    if (head === undefined) {
      if (bytes.length > MAX_HEAD_BYTES) fail("response head too big");
      return;
    }
    settled = true;
    clearTimeout(timer);
    socket.off("data", onData);
    socket.pause();
    resolve({ socket, status: head.status, rest: bytes.slice(head.bodyStart) });
  };
  socket.on("data", onData);
  socket.on("error", (error) => fail(errorOutcome(error)));
  socket.on("close", () => {
    options.sockets.delete(socket);
    fail("closed before the response");
  });
  socket.on("connect", () => socket.write(options.request));
  return promise;
}

/**
 * Completes a WebSocket opening handshake from `localAddress`.
 *
 * @throws {ConnectFailed} Unless the answer is 101 (`status 429`, `status 503`…).
 * @example
 * ```ts ignore
 * const { socket, rest } = await wsOpen({ port, localAddress: "127.0.0.2", path: "/echo", timeoutMs: 5000, sockets });
 * ```
 */
export async function wsOpen(
  options: NetOpenOptions & { path: string },
): Promise<{ socket: net.Socket; rest: Uint8Array }> {
  const opened = await httpOpen({
    ...options,
    request: upgradeRequest(options.path),
  });
  if (opened.status !== 101) {
    opened.socket.destroy();
    throw new ConnectFailed(`status ${opened.status}`);
  }
  return { socket: opened.socket, rest: opened.rest };
}
