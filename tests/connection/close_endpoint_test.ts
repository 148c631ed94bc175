import assert from "node:assert/strict";
import { startTestServer } from "../_server.ts";
import { closeAndWait, connect } from "../_client.ts";

Deno.test("GET /close closes with the code and reason the client asks for", async (t) => {
  await using server = startTestServer();
  const cases: Array<[message: string, code: number, reason: string]> = [
    ["1000 normal closure", 1000, "normal closure"],
    ["1001 going away", 1001, "going away"],
    ["1003", 1003, ""],
    ["1007 ", 1007, ""],
    ["1011 internal error", 1011, "internal error"],
    ["3000 from a framework", 3000, "from a framework"],
    ["4999 two  spaces kept", 4999, "two  spaces kept"],
    ["4000 繁體中文", 4000, "繁體中文"],
  ];
  for (const [message, code, reason] of cases) {
    await t.step(JSON.stringify(message), async () => {
      const { socket, inbox } = await connect(`${server.ws}/close`);
      socket.send(message);
      const close = await inbox.closed();
      assert.equal(close.code, code);
      assert.equal(close.reason, reason);
      assert.equal(close.wasClean, true);
      assert.equal(inbox.pending, 0, "the command is not echoed");
    });
  }
});

Deno.test("GET /close refuses codes a server may not send and stays open", async (t) => {
  await using server = startTestServer();
  const { socket, inbox } = await connect(`${server.ws}/close`);
  for (
    const message of [
      "999 too low",
      "1004 reserved",
      "1005 no status",
      "1006 abnormal",
      "1012 restart",
      "1015 tls",
      "2000 extension",
      "5000 too high",
      "0",
    ]
  ) {
    await t.step(JSON.stringify(message), async () => {
      socket.send(message);
      const reply = await inbox.next() as string;
      assert.match(
        reply,
        new RegExp(
          `^Cannot close with code ${
            Number(message.split(" ")[0])
          }: a server may send 1000-1003, 1007-1011 or 3000-4999`,
        ),
      );
    });
  }
  await t.step("a reason over 123 bytes is refused", async () => {
    socket.send(`4000 ${"é".repeat(62)}`);
    assert.match(
      await inbox.next() as string,
      /^Cannot close with a 124-byte reason: .* at most 123 bytes/,
    );
  });
  await t.step("other messages are echoed, text and binary", async () => {
    for (const text of ["hello", "4000x", " 4000 leading space", "Four 4000"]) {
      socket.send(text);
      assert.equal(await inbox.next(), text);
    }
    socket.send(new TextEncoder().encode("4000 binary"));
    assert.equal(
      new TextDecoder().decode(await inbox.next() as ArrayBuffer),
      "4000 binary",
    );
  });
  await t.step(
    "the connection is still usable for a valid command",
    async () => {
      socket.send("4321 finally");
      const close = await inbox.closed();
      assert.deepEqual([close.code, close.reason], [4321, "finally"]);
    },
  );
  await closeAndWait(socket, inbox);
});
