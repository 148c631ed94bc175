import assert from "node:assert/strict";
import { startTestServer } from "../_server.ts";
import { closeAndWait, connect } from "../_client.ts";
import { rawRequest, upgradeRequest } from "../../bench/wire.ts";

Deno.test("an invalid value of a known query option is refused with 400 naming the option", async (t) => {
  await using server = startTestServer();
  const cases: Array<[query: string, expected: RegExp]> = [
    ["delay=abc", /^Invalid option "delay": expected an integer 0-10000/],
    ["delay=10001", /^Invalid option "delay": expected an integer 0-10000/],
    // Both values are valid: the message says first that it was repeated.
    [
      "delay=1&delay=2",
      /^Invalid option "delay": given twice; expected an integer 0-10000, once\n/,
    ],
    [
      "delay=1&delay=2&delay=3",
      /^Invalid option "delay": given 3 times; expected an integer 0-10000, once\n/,
    ],
    [
      "format=raw&format=raw",
      /^Invalid option "format": given twice; expected raw or json, once\n/,
    ],
    [
      "greeting=1&greeting=1",
      /^Invalid option "greeting": given twice; expected no value, 1, true, 0 or false, once\n/,
    ],
    [
      "close_after=1&reason=a&reason=a",
      /^Invalid option "reason": given twice; expected a text, once\n/,
    ],
    // A repeated code names the same ranges as a bad one.
    [
      "close_after=1&code=1000&code=1000",
      /^Invalid option "code": given twice; expected a close code a server may send: 1000-1003, 1007-1011 or 3000-4999, once\n/,
    ],
    [
      "close_after=1&code=abc",
      /^Invalid option "code": expected a close code a server may send: 1000-1003, 1007-1011 or 3000-4999\n/,
    ],
    ["format=xml", /^Invalid option "format": expected raw or json/],
    ["greeting=yes", /^Invalid option "greeting": expected no value, 1/],
    ["close_after=0", /^Invalid option "close_after": expected an integer 1-/],
    [
      "close_after=1&code=1005",
      /^Invalid option "code": expected a close code a server may send: 1000-1003, 1007-1011 or 3000-4999/,
    ],
    [
      "code=4000",
      /^Invalid option "code": only applies together with close_after/,
    ],
    [
      `close_after=1&reason=${"x".repeat(124)}`,
      /^Invalid option "reason": expected at most 123 bytes/,
    ],
  ];
  for (const [query, expected] of cases) {
    await t.step(`/echo?${query.slice(0, 40)} -> 400`, async () => {
      const response = await rawRequest(
        server.port,
        upgradeRequest(`/echo?${query}`),
      );
      assert.equal(response.status, 400);
      assert.match(response.body, expected);
      assert.match(response.body, /\nOptions:\n {2}delay: /);
    });
  }
  await t.step("the same options apply to /close and /inspect", async () => {
    for (const path of ["/close", "/inspect"]) {
      const response = await rawRequest(
        server.port,
        upgradeRequest(`${path}?nope=1&format=xml`),
      );
      assert.equal(response.status, 400);
      assert.match(response.body, /^Invalid option "format"/);
    }
  });
  await t.step(
    "a WebSocket client sees the refusal as a failed connection",
    async () => {
      await assert.rejects(connect(`${server.ws}/echo?delay=-1`));
    },
  );
  await t.step("refusals are counted in /metrics", async () => {
    const metrics = await (await fetch(`${server.http}/metrics`)).text();
    assert.match(
      metrics,
      /ws_echo_refusals_total\{reason="bad_options"\} 1[1-9]/,
    );
  });
});

Deno.test("query parameters that are not options are ignored, as pywebsocket ignores the query", async (t) => {
  await using server = startTestServer();
  await t.step(
    "a client library's own parameters do not refuse the echo",
    async () => {
      const { socket, inbox } = await connect(
        `${server.ws}/echo?EIO=4&transport=websocket&t=1700000000`,
      );
      socket.send("still an echo");
      assert.equal(await inbox.next(), "still an echo");
      await closeAndWait(socket, inbox);
    },
  );
  await t.step(
    "/inspect lists them as ignored and applies the options",
    async () => {
      const { socket, inbox } = await connect(
        `${server.ws}/inspect?token=abc&format=json&token=def`,
      );
      const report = JSON.parse(await inbox.next() as string);
      assert.deepEqual(report.ignoredOptions, ["token"]);
      assert.deepEqual(report.options, { format: "json" });
      socket.send("x");
      assert.equal(JSON.parse(await inbox.next() as string).data, "x");
      await closeAndWait(socket, inbox);
    },
  );
});

Deno.test("delay holds each echo for that many milliseconds and keeps the order", async () => {
  await using server = startTestServer();
  const { socket, inbox } = await connect(`${server.ws}/echo?delay=150`);
  const sent = Array.from({ length: 50 }, (_, i) => `message ${i}`);
  const start = performance.now();
  for (const text of sent) socket.send(text);
  socket.send(new Uint8Array([1, 2, 3]));
  const first = await inbox.next();
  const waited = performance.now() - start;
  assert.equal(first, sent[0]);
  assert.ok(waited >= 145, `first echo after ${waited} ms, before the delay`);
  assert.deepEqual([first, ...await inbox.take(49)], sent);
  const binary = await inbox.next();
  assert.ok(binary instanceof ArrayBuffer, "binary stays binary under delay");
  assert.deepEqual(new Uint8Array(binary), new Uint8Array([1, 2, 3]));
  await closeAndWait(socket, inbox);
});

Deno.test("delayed echoes count against MAX_BUFFERED_BYTES (slow reader, 1008)", async () => {
  await using server = startTestServer({ MAX_BUFFERED_BYTES: "65536" });
  const { socket, inbox } = await connect(`${server.ws}/echo?delay=10000`);
  const chunk = new Uint8Array(16 * 1024);
  for (let i = 0; i < 5; i++) socket.send(chunk);
  const close = await inbox.closed();
  assert.equal(close.code, 1008);
  assert.match(close.reason, /^slow reader/);
  assert.equal(inbox.pending, 0, "nothing was echoed before the close");
});

Deno.test("format=json wraps each echo as {seq, type, bytes, receivedAt, data}", async (t) => {
  await using server = startTestServer();
  const { socket, inbox } = await connect(`${server.ws}/echo?format=json`);

  await t.step("text: data is the text, bytes its UTF-8 length", async () => {
    socket.send("héllo 繁體");
    const echoed = JSON.parse(await inbox.next() as string);
    assert.deepEqual(Object.keys(echoed), [
      "seq",
      "type",
      "bytes",
      "receivedAt",
      "data",
    ]);
    assert.equal(echoed.seq, 1);
    assert.equal(echoed.type, "text");
    assert.equal(echoed.bytes, 13);
    assert.equal(echoed.data, "héllo 繁體");
    assert.equal(new Date(echoed.receivedAt).toISOString(), echoed.receivedAt);
  });

  await t.step(
    "binary: data is base64 and the echo is a text message",
    async () => {
      const bytes = new Uint8Array([0, 1, 254, 255]);
      socket.send(bytes);
      const echoed = await inbox.next();
      assert.equal(typeof echoed, "string");
      const parsed = JSON.parse(echoed as string);
      assert.equal(parsed.seq, 2);
      assert.equal(parsed.type, "binary");
      assert.equal(parsed.bytes, 4);
      assert.deepEqual(Uint8Array.fromBase64(parsed.data), bytes);
    },
  );

  await t.step(
    "Goodbye is wrapped too, then the server closes with 1000",
    async () => {
      socket.send("Goodbye");
      assert.equal(JSON.parse(await inbox.next() as string).data, "Goodbye");
      assert.equal((await inbox.closed()).code, 1000);
    },
  );
});

Deno.test("greeting sends one first message with the connection id, only when asked", async () => {
  await using server = startTestServer();
  const { socket, inbox } = await connect(`${server.ws}/echo?greeting`);
  const greeting = await inbox.next() as string;
  const id = /connection (\S+)\./.exec(greeting)?.[1];
  assert.ok(id?.startsWith(`${server.services.ids.instance}-`), greeting);
  socket.send("hi");
  assert.equal(await inbox.next(), "hi");
  await closeAndWait(socket, inbox);
  await server.allClosed();
  assert.ok(
    server.logs.some((line) => line.startsWith(`ws close id=${id} `)),
    "the id in the greeting is the id in the log",
  );
});

Deno.test("close_after closes with the requested code and reason after N echoes", async (t) => {
  await using server = startTestServer();

  await t.step("close_after=3&code=4001&reason=done", async () => {
    const { socket, inbox } = await connect(
      `${server.ws}/echo?close_after=3&code=4001&reason=done`,
    );
    for (const text of ["a", "b", "c", "d", "e"]) socket.send(text);
    assert.deepEqual(await inbox.take(3), ["a", "b", "c"]);
    const close = await inbox.closed();
    assert.equal(close.code, 4001);
    assert.equal(close.reason, "done");
    assert.equal(inbox.pending, 0, "nothing after the third echo");
  });

  await t.step("without code and reason: 1000 naming close_after", async () => {
    const { socket, inbox } = await connect(`${server.ws}/echo?close_after=1`);
    socket.send("only");
    assert.equal(await inbox.next(), "only");
    const close = await inbox.closed();
    assert.equal(close.code, 1000);
    assert.equal(close.reason, "close_after=1 reached");
  });

  await t.step(
    "with delay: the delayed echoes arrive, then the close",
    async () => {
      const { socket, inbox } = await connect(
        `${server.ws}/echo?close_after=2&delay=50&code=3000&format=json`,
      );
      for (const text of ["x", "y", "z"]) socket.send(text);
      const echoes = (await inbox.take(2)).map((m) => JSON.parse(m as string));
      assert.deepEqual(echoes.map((e) => [e.seq, e.data]), [[1, "x"], [
        2,
        "y",
      ]]);
      assert.equal((await inbox.closed()).code, 3000);
    },
  );
});
