/**
 * One well-behaved WebSocket session over a raw socket, the way the
 * bystanders and the churn clients run theirs: open `/echo` from a source
 * address, hand every frame the server sends to the client, and resolve with
 * why the session ended once the socket closes.
 *
 * @module
 */
import type net from "node:net";
import {
  errorOutcome,
  FrameReader,
  type NetOpenOptions,
  wsOpen,
} from "../../wire.ts";

/** An open session, as its client sees it. */
export interface Session {
  socket: net.Socket;
  /** Says why the session ends; the first reason given wins. */
  because(why: string): void;
}

/** What a client does in a session. */
export interface SessionClient {
  /** Once open: starts sending; returns what to stop when the socket closes. */
  start(session: Session): () => void;
  /** Each frame the server sends, in order (no payload past what FrameReader keeps). */
  frame(
    opcode: number,
    payload: Uint8Array | undefined,
    session: Session,
  ): void;
}

/** How a session went: `opened` false when the opening handshake failed. */
export interface SessionEnd {
  opened: boolean;
  /** `connect <outcome>`, the first reason given, a socket error's outcome, or `ended`. */
  outcome: string;
}

/**
 * Runs one session on `/echo`; never throws.
 *
 * @param ended The outcome when the socket closes with no reason given.
 */
export async function runSession(
  open: NetOpenOptions,
  client: SessionClient,
  ended: string,
): Promise<SessionEnd> {
  let opened;
  try {
    opened = await wsOpen({ ...open, path: "/echo" });
  } catch (error) {
    return { opened: false, outcome: `connect ${errorOutcome(error)}` };
  }
  const { socket, rest } = opened;
  return await new Promise<SessionEnd>((resolve) => {
    let why: string | undefined;
    const session: Session = { socket, because: (reason) => why ??= reason };
    const reader = new FrameReader((opcode, payload) =>
      client.frame(opcode, payload, session)
    );
    reader.push(rest);
    socket.on("data", (chunk: Uint8Array) => reader.push(chunk));
    socket.resume();
    const stop = client.start(session);
    socket.on("error", (error) => session.because(errorOutcome(error)));
    socket.once("close", () => {
      stop();
      resolve({ opened: true, outcome: why ?? ended });
    });
  });
}
