import assert from "node:assert/strict";
import { startTestServer } from "../_server.ts";
import { closeAndWait, connect } from "../_client.ts";

Deno.test("GET /echo echoes every message unchanged", async (t) => {
  await using server = startTestServer();
  const { socket, inbox } = await connect(`${server.ws}/echo`);

  await t.step("text stays text, including multi-byte UTF-8", async () => {
    for (
      const text of ["hello", "héllo wörld", "繁體中文 简体中文", "😀 emoji"]
    ) {
      socket.send(text);
      assert.equal(await inbox.next(), text);
    }
  });

  await t.step("binary stays binary, byte for byte", async () => {
    const bytes = new Uint8Array(256).map((_, i) => i);
    socket.send(bytes);
    const echoed = await inbox.next();
    assert.ok(echoed instanceof ArrayBuffer, "binary arrives as ArrayBuffer");
    assert.deepEqual(new Uint8Array(echoed), bytes);
  });

  await t.step("empty text and empty binary messages are echoed", async () => {
    socket.send("");
    assert.equal(await inbox.next(), "");
    socket.send(new Uint8Array(0));
    const echoed = await inbox.next();
    assert.ok(echoed instanceof ArrayBuffer);
    assert.equal(echoed.byteLength, 0);
  });

  await t.step("messages come back in the order they were sent", async () => {
    const sent = Array.from({ length: 200 }, (_, i) => `message ${i}`);
    for (const text of sent) socket.send(text);
    const received = [];
    for (let i = 0; i < sent.length; i++) received.push(await inbox.next());
    assert.deepEqual(received, sent);
  });

  await t.step("a 1 MiB binary message is echoed intact", async () => {
    const bytes = crypto.getRandomValues(new Uint8Array(65536));
    const big = new Uint8Array(1024 * 1024);
    for (let i = 0; i < 16; i++) big.set(bytes, i * 65536);
    socket.send(big);
    const echoed = await inbox.next();
    assert.ok(echoed instanceof ArrayBuffer);
    assert.deepEqual(new Uint8Array(echoed), big);
  });

  await closeAndWait(socket, inbox);
});

Deno.test("GET /echo sends nothing before the client's first message", async () => {
  await using server = startTestServer();
  const { socket, inbox } = await connect(`${server.ws}/echo`);
  socket.send("first");
  assert.equal(await inbox.next(), "first");
  assert.equal(inbox.pending, 0);
  await closeAndWait(socket, inbox);
});

Deno.test("text Goodbye is echoed and then the server closes with 1000", async () => {
  await using server = startTestServer();
  const { socket, inbox } = await connect(`${server.ws}/echo`);
  socket.send("Goodbye");
  assert.equal(await inbox.next(), "Goodbye");
  const close = await inbox.closed();
  assert.equal(close.code, 1000);
  assert.equal(close.wasClean, true);
});

Deno.test("binary Goodbye is only echoed; the connection stays open", async () => {
  await using server = startTestServer();
  const { socket, inbox } = await connect(`${server.ws}/echo`);
  const goodbye = new TextEncoder().encode("Goodbye");
  socket.send(goodbye);
  assert.deepEqual(new Uint8Array(await inbox.next() as ArrayBuffer), goodbye);
  socket.send("still open");
  assert.equal(await inbox.next(), "still open");
  await closeAndWait(socket, inbox);
});

Deno.test("the server answers a client close with the same code and reason", async (t) => {
  await using server = startTestServer();
  for (
    const [code, reason] of [[1000, "done"], [4000, "custom reason"], [
      3001,
      "",
    ]] as const
  ) {
    await t.step(`${code} ${JSON.stringify(reason)}`, async () => {
      const { socket, inbox } = await connect(`${server.ws}/echo`);
      socket.close(code, reason);
      const close = await inbox.closed();
      assert.equal(close.code, code);
      assert.equal(close.reason, reason);
      assert.equal(close.wasClean, true);
    });
  }
});

Deno.test("the server accepts the first subprotocol the client offers", async (t) => {
  await using server = startTestServer();

  await t.step("offered [chat, superchat] -> chat", async () => {
    const { socket, inbox } = await connect(`${server.ws}/echo`, {
      protocols: ["chat", "superchat"],
    });
    assert.equal(socket.protocol, "chat");
    socket.send("hi");
    assert.equal(await inbox.next(), "hi");
    await closeAndWait(socket, inbox);
  });

  await t.step("none offered -> none chosen", async () => {
    const { socket, inbox } = await connect(`${server.ws}/echo`);
    assert.equal(socket.protocol, "");
    await closeAndWait(socket, inbox);
  });
});

Deno.test("each close is logged once with code, duration, messages and bytes", async () => {
  await using server = startTestServer();
  const { socket, inbox } = await connect(`${server.ws}/echo`);
  socket.send("abc");
  await inbox.next();
  socket.send("Goodbye");
  await inbox.closed();
  await server.allClosed();
  const closes = server.logs.filter((line) => line.startsWith("ws close"));
  assert.equal(closes.length, 1);
  assert.match(
    closes[0]!,
    // The service closed after "Goodbye": the client's Close came back.
    /code=1000 reason="Goodbye" answered=true close_wait_ms=\d+ duration=\d+ms messages=2 bytes_in=10 bytes_out=10/,
  );
  assert.equal(
    server.logs.some((line) => line.includes("abc")),
    false,
    "messages are never logged",
  );
});
