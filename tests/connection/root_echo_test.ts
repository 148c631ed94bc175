import assert from "node:assert/strict";
import { startTestServer } from "../_server.ts";
import { closeAndWait, connect } from "../_client.ts";
import { rawRequest, upgradeRequest } from "../../bench/wire.ts";

Deno.test("a WebSocket upgrade on / is an echo, like /echo", async (t) => {
  await using server = startTestServer({ MAX_MESSAGE_BYTES: "1024" });
  await t.step("text and binary come back unchanged", async () => {
    const { socket, inbox } = await connect(`${server.ws}/`);
    socket.send("hello from the bare URL");
    socket.send(new Uint8Array([0, 1, 2, 255]));
    assert.equal(await inbox.next(), "hello from the bare URL");
    assert.deepEqual(
      new Uint8Array(await inbox.next() as ArrayBuffer),
      new Uint8Array([0, 1, 2, 255]),
    );
    await closeAndWait(socket, inbox);
  });
  await t.step("query options apply", async () => {
    const { socket, inbox } = await connect(`${server.ws}/?format=json`);
    socket.send("wrapped");
    const echo = JSON.parse(await inbox.next() as string);
    assert.equal(echo.data, "wrapped");
    assert.equal(echo.seq, 1);
    await closeAndWait(socket, inbox);
  });
  await t.step("text Goodbye is echoed and then closes with 1000", async () => {
    const { socket, inbox } = await connect(`${server.ws}/`);
    socket.send("Goodbye");
    assert.equal(await inbox.next(), "Goodbye");
    const close = await inbox.closed();
    assert.deepEqual([close.code, close.reason], [1000, "Goodbye"]);
  });
  await t.step(
    "the limits apply: over MAX_MESSAGE_BYTES closes with 1009",
    async () => {
      const { socket, inbox } = await connect(`${server.ws}/`);
      socket.send("x".repeat(1025));
      assert.equal((await inbox.closed()).code, 1009);
    },
  );
  await t.step("the refusals apply: a bad option gets 400", async () => {
    const response = await rawRequest(
      server.port,
      upgradeRequest("/?delay=soon"),
    );
    assert.equal(response.status, 400);
    assert.match(response.body, /^Invalid option "delay"/);
  });
  await t.step("a bad handshake gets 400 like /echo's", async () => {
    const response = await rawRequest(
      server.port,
      upgradeRequest("/", { "Sec-WebSocket-Key": "" }),
    );
    assert.equal(response.status, 400);
  });
  await t.step("the log names / as the path", () => {
    assert.ok(
      server.records.some((r) => r.event === "ws_close" && r.code === 1009),
    );
    assert.ok(
      server.records.some((r) =>
        r.event === "ws_refused" && r.path === "/" && r.reason === "bad_options"
      ),
    );
  });
});

Deno.test("a plain GET or HEAD of / still serves the page", async (t) => {
  await using server = startTestServer();
  await t.step("GET", async () => {
    const response = await fetch(`${server.http}/`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /text\/html/);
    assert.match(await response.text(), /<html/i);
  });
  await t.step("HEAD, even with an Upgrade header", async () => {
    const response = await rawRequest(
      server.port,
      upgradeRequest("/").replace(/^GET/, "HEAD"),
    );
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /text\/html/);
  });
});
