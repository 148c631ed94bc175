import assert from "node:assert/strict";
import { startTestServer } from "./_server.ts";
import {
  closeAndWait,
  connect,
  openWebSocket,
  readTextUntil,
  until,
} from "./_client.ts";
import {
  openRawWebSocket,
  rawRequest,
  readFrame,
  readResponse,
} from "../bench/wire.ts";

/** A TCP listener on loopback that accepts and never answers. */
function silentListener() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) accepted.push(conn);
  })();
  return {
    port: listener.addr.port,
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting;
      for (const conn of accepted) conn.close();
    },
  };
}

Deno.test("the test kit's waits fail after their deadline, naming what and where", async (t) => {
  await using server = startTestServer();

  await t.step("Inbox.next() names the next message and the URL", async () => {
    const { socket, inbox } = await connect(`${server.ws}/echo`);
    await assert.rejects(
      inbox.next({ timeoutMs: 50 }),
      (error: Error) =>
        error instanceof Deno.errors.TimedOut &&
        error.message ===
          `Timed out after 50 ms waiting for the next message on ${server.ws}/echo`,
    );
    socket.send("after a timeout");
    assert.equal(
      await inbox.next(),
      "after a timeout",
      "a timed-out wait does not swallow the next message",
    );
    await closeAndWait(socket, inbox);
  });

  await t.step("Inbox.closed() names the close and the URL", async () => {
    // Only the wait is 50 ms: an open or a close handshake may take longer
    // on a busy machine (this step failed in a stress run, with 50 ms for all).
    const { socket, inbox } = await connect(`${server.ws}/echo`);
    await assert.rejects(
      inbox.closed({ timeoutMs: 50 }),
      new RegExp(
        `^TimedOut: Timed out after 50 ms waiting for the close on ${
          server.ws.replaceAll(".", "\\.")
        }/echo$`,
      ),
    );
    await closeAndWait(socket, inbox);
  });

  await t.step(
    "Inbox.next() fails at once when the socket closes",
    async () => {
      const { socket, inbox } = await connect(`${server.ws}/echo`);
      const waiting = inbox.next({ timeoutMs: 60_000 });
      socket.close(4000, "done");
      await assert.rejects(waiting, /closed with 4000 "done"/);
      await assert.rejects(inbox.next(), /closed with 4000 "done"/);
    },
  );

  await t.step("take() returns messages in order", async () => {
    const { socket, inbox } = await connect(`${server.ws}/echo`);
    for (const text of ["a", "b", "c"]) socket.send(text);
    assert.deepEqual(await inbox.take(3), ["a", "b", "c"]);
    await closeAndWait(socket, inbox);
  });

  await t.step("until() names what it waited for", async () => {
    await assert.rejects(
      until(() => false, "nothing", { timeoutMs: 20 }),
      /^TimedOut: Timed out after 20 ms waiting for nothing$/,
    );
  });

  await t.step(
    "readTextUntil() names what it waited for, and a stream that ended",
    async () => {
      const silent = new ReadableStream<string>({ start() {} }).getReader();
      await assert.rejects(
        readTextUntil(silent, (text) => text.includes("x"), "an x", {
          timeoutMs: 20,
        }),
        /^TimedOut: Timed out after 20 ms waiting for an x$/,
      );
      const ended = new ReadableStream<string>({
        start(controller) {
          controller.enqueue("abc");
          controller.close();
        },
      }).getReader();
      await assert.rejects(
        readTextUntil(ended, (text) => text.includes("x"), "an x"),
        /^Error: The stream ended before an x: abc$/,
      );
      const found = new ReadableStream<string>({
        start(controller) {
          controller.enqueue("ab");
          controller.enqueue("xc");
        },
      }).getReader();
      assert.equal(
        await readTextUntil(found, (text) => text.includes("x"), "an x"),
        "abxc",
      );
      await found.cancel();
    },
  );

  await t.step("openWebSocket() rejects a refused handshake", async () => {
    await assert.rejects(
      openWebSocket(`${server.ws}/nope`),
      new RegExp(`Cannot connect to ${server.ws.replaceAll(".", "\\.")}/nope`),
    );
  });
});

Deno.test("the wire helpers give up on a server that never answers", async (t) => {
  await using silent = silentListener();

  await t.step("rawRequest()", async () => {
    await assert.rejects(
      rawRequest(silent.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", {
        timeoutMs: 50,
      }),
      new RegExp(
        `^TimedOut: Timed out after 50 ms waiting for an HTTP response from 127\\.0\\.0\\.1:${silent.port}$`,
      ),
    );
  });

  await t.step("openRawWebSocket()", async () => {
    await assert.rejects(
      openRawWebSocket(silent.port, { timeoutMs: 50 }),
      (error: Error) => error instanceof Deno.errors.TimedOut,
    );
  });

  await t.step("readResponse() on a caller's connection", async () => {
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: silent.port,
    });
    try {
      await assert.rejects(
        readResponse(conn, { timeoutMs: 50 }),
        (error: Error) => error instanceof Deno.errors.TimedOut,
      );
    } finally {
      conn.close();
    }
  });
});

Deno.test("the wire helpers read a 101, its frames and a refusal", async () => {
  await using server = startTestServer();
  const { conn, leftover, response } = await openRawWebSocket(server.port, {
    path: "/echo?greeting",
  });
  try {
    assert.equal(response.status, 101);
    assert.equal(response.body, "", "a 101 has no body");
    const greeting = await readFrame(conn, { leftover });
    assert.equal(greeting.opcode, 1);
    assert.match(new TextDecoder().decode(greeting.payload), /connection/);
  } finally {
    conn.close();
  }
  await assert.rejects(
    openRawWebSocket(server.port, { path: "/nope" }),
    new RegExp(
      `^Error: Handshake for ws://127\\.0\\.0\\.1:${server.port}/nope refused with 404: Not found: /nope`,
    ),
  );
  const multiByte = await rawRequest(
    server.port,
    `GET /%E7%B9%81 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
  );
  assert.equal(multiByte.status, 404);
  assert.equal(multiByte.body, "Not found: /繁\n");
});
