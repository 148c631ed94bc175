import assert from "node:assert/strict";
import { startTestServer } from "../_server.ts";
import { connect, until, withDeadline } from "../_client.ts";
import { SSE_STREAM_BYTES } from "../../lib/connection/leased_stream.ts";

interface ServerSentEvent {
  event: string;
  id: string;
  data: string;
  retry?: number;
}

/** Parses an event stream (HTML Living Standard §9.2.6) as it arrives. */
async function* readEvents(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<ServerSentEvent> {
  let buffer = "";
  for await (const text of body.pipeThrough(new TextDecoderStream())) {
    buffer += text;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event: ServerSentEvent = { event: "message", id: "", data: "" };
      const data: string[] = [];
      for (const line of block.split("\n")) {
        const colon = line.indexOf(":");
        const field = line.slice(0, colon);
        const value = line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event.event = value;
        else if (field === "id") event.id = value;
        else if (field === "data") data.push(value);
        else if (field === "retry") event.retry = Number(value);
      }
      event.data = data.join("\n");
      yield event;
    }
  }
}

/**
 * An abort signal for a fetch whose body the test reads to its end: past
 * `ms` the body fails with `Deno.errors.TimedOut` naming `what`, so a stream
 * that never ends fails the test instead of hanging it. Dispose it to clear
 * the timer.
 */
function streamDeadline(
  ms: number,
  what: string,
): { signal: AbortSignal } & Disposable {
  const controller = new AbortController();
  const timer = setTimeout(
    () =>
      controller.abort(
        new Deno.errors.TimedOut(
          `Timed out after ${ms} ms waiting for ${what}`,
        ),
      ),
    ms,
  );
  return {
    signal: controller.signal,
    [Symbol.dispose]: () => clearTimeout(timer),
  };
}

/**
 * The events of one `/sse?from=test` stream up to its `end`, or, with
 * `times`, up to that many `time` events, after which the client goes.
 */
async function streamEvents(
  http: string,
  options: { times?: number; what: string },
): Promise<{ response: Response; events: ServerSentEvent[] }> {
  const controller = new AbortController();
  // A busy machine gets ten times the second or two each stream takes.
  using deadline = streamDeadline(20_000, options.what);
  const response = await fetch(`${http}/sse?from=test`, {
    headers: { "X-Tutorial": "sse" },
    signal: AbortSignal.any([controller.signal, deadline.signal]),
  });
  const events: ServerSentEvent[] = [];
  let times = 0;
  for await (const event of readEvents(response.body!)) {
    events.push(event);
    if (event.event === "time") times++;
    if (times === options.times) break;
  }
  controller.abort();
  return { response, events };
}

Deno.test("GET /sse streams server, request, a time event per second, and ends at its lifetime", async (t) => {
  // Two streams: one the test leaves after two time events, one that ends
  // at a 1 s lifetime. One stream did both with a 2 s lifetime, and opening
  // writes that took 1.2 s (a busy machine) left one time event in it.
  await using ticking = startTestServer();
  await using ending = startTestServer({ SSE_LIFETIME_SECONDS: "1" });
  const [left, ended] = await Promise.all([
    streamEvents(ticking.http, { times: 2, what: "two time events" }),
    streamEvents(ending.http, { what: "the stream to end at its lifetime" }),
  ]);
  const { response, events } = left;

  await t.step("it is an uncached event stream", () => {
    for (const { headers, status } of [response, ended.response]) {
      assert.equal(status, 200);
      assert.equal(headers.get("content-type"), "text/event-stream");
      assert.equal(headers.get("cache-control"), "no-cache");
    }
  });

  await t.step("events arrive in order with increasing ids", () => {
    assert.deepEqual(events.map((event) => event.event), [
      "server",
      "request",
      "time",
      "time",
    ]);
    const names = ended.events.map((event) => event.event);
    assert.equal(names[0], "server");
    assert.equal(names[1], "request");
    assert.equal(names.at(-1), "end");
    const times = names.slice(2, -1);
    assert.ok(times.every((name) => name === "time"), names.join());
    for (const stream of [events, ended.events]) {
      assert.deepEqual(
        stream.map((event) => Number(event.id)),
        stream.map((_, i) => i + 1),
      );
    }
  });

  await t.step("server names the instance and sets the reconnect delay", () => {
    const server_ = JSON.parse(events[0]!.data);
    assert.equal(server_.instance, ticking.services.ids.instance);
    assert.equal(events[0]!.retry, 5000);
  });

  await t.step("request has the request line and headers", () => {
    const request = JSON.parse(events[1]!.data);
    assert.equal(request.method, "GET");
    assert.equal(request.target, "/sse?from=test");
    assert.equal(request.headers["x-tutorial"], "sse");
  });

  await t.step("time is RFC 3339, one second apart", () => {
    const times = events.filter((event) => event.event === "time")
      .map((event) => JSON.parse(event.data) as string);
    for (const time of times) {
      assert.match(time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
    const gap = Date.parse(times[1]!) - Date.parse(times[0]!);
    assert.ok(gap >= 990, `time events ${gap} ms apart`);
  });

  await t.step("end says why the stream ended", () => {
    assert.deepEqual(JSON.parse(ended.events.at(-1)!.data), {
      reason: "lifetime of 1 s reached (SSE_LIFETIME_SECONDS)",
    });
  });
  for (const server of [ticking, ending]) {
    await until(
      () => server.services.registry.countFor("127.0.0.1") === 0,
      "the stream's slot is freed",
    );
  }
});

Deno.test("GET /sse streams count in MAX_CONNECTIONS_PER_IP with WebSockets", async () => {
  await using server = startTestServer({ MAX_CONNECTIONS_PER_IP: "2" });
  const controller = new AbortController();
  using deadline = streamDeadline(20_000, "the first stream");
  const first = await fetch(`${server.http}/sse`, {
    signal: AbortSignal.any([controller.signal, deadline.signal]),
  });
  const events = readEvents(first.body!);
  assert.equal((await events.next()).value?.event, "server");
  const { socket, inbox } = await connect(`${server.ws}/echo`);

  const refused = await fetch(`${server.http}/sse`);
  assert.equal(refused.status, 429);
  assert.equal(refused.headers.get("retry-after"), "10");
  assert.match(await refused.text(), /^Too many connections from 127\.0\.0\.1/);
  await assert.rejects(connect(`${server.ws}/echo`), "the WebSocket cap too");

  controller.abort();
  await assert.rejects(
    withDeadline(
      (async () => {
        for await (const _ of events) { /* drain until the abort surfaces */ }
      })(),
      5000,
      "the aborted stream to fail",
    ),
    (error) => !(error instanceof Deno.errors.TimedOut),
  );
  await until(
    () => server.services.registry.countFor("127.0.0.1") === 1,
    "closing the stream frees its slot",
  );
  const again = await fetch(`${server.http}/sse`);
  assert.equal(again.status, 200);
  await again.body!.cancel();
  socket.close();
  await inbox.closed();
});

Deno.test("GET /sse from a page on an origin ALLOWED_ORIGINS leaves out gets 403, like a WebSocket", async () => {
  await using server = startTestServer({
    ALLOWED_ORIGINS: "https://tutorial.example",
  });
  const refused = await fetch(`${server.http}/sse`, {
    headers: { Origin: "https://elsewhere.example" },
  });
  assert.equal(refused.status, 403);
  assert.equal(
    await refused.text(),
    'Origin "https://elsewhere.example" is not allowed to connect to this server\n',
  );
  assert.ok(
    server.logs.some((line) =>
      line.startsWith("sse refused ip=127.0.0.1 reason=origin")
    ),
    "the refusal is logged with its reason",
  );
  const allowed = await fetch(`${server.http}/sse`, {
    headers: { Origin: "https://tutorial.example" },
  });
  assert.equal(allowed.status, 200);
  await allowed.body!.cancel();
});

Deno.test("shutdown ends open /sse streams with an end event", async () => {
  await using server = startTestServer();
  using deadline = streamDeadline(10_000, "the stream to end at shutdown");
  const response = await fetch(`${server.http}/sse`, {
    signal: deadline.signal,
  });
  const events = readEvents(response.body!);
  assert.equal((await events.next()).value?.event, "server");
  const stopped = server.server.shutdown();
  let last: ServerSentEvent | undefined;
  for await (const event of events) last = event;
  assert.equal(last?.event, "end");
  assert.deepEqual(JSON.parse(last.data), { reason: "server shutting down" });
  await stopped;
});

Deno.test("/healthz counts open /sse streams in connections", async () => {
  await using server = startTestServer();
  const controller = new AbortController();
  using deadline = streamDeadline(20_000, "the stream");
  const response = await fetch(`${server.http}/sse`, {
    signal: AbortSignal.any([controller.signal, deadline.signal]),
  });
  const events = readEvents(response.body!);
  assert.equal((await events.next()).value?.event, "server");
  const { socket, inbox } = await connect(`${server.ws}/echo`);
  const health = await (await fetch(`${server.http}/healthz`)).json();
  assert.equal(health.connections, 2, "one WebSocket and one stream");
  assert.equal(health.streams, 1);
  controller.abort();
  await assert.rejects(async () => {
    for await (const _ of events) { /* drain until the abort surfaces */ }
  });
  socket.close();
  await inbox.closed();
  await until(
    () => server.services.metrics.streamsOpen === 0,
    "the stream to be counted out",
  );
});

Deno.test("the memory guard sheds /sse streams with an end event naming the cause", async () => {
  // Each stream counts SSE_STREAM_BYTES: the second passes the budget, and
  // the guard sheds the first (equal charges: the oldest goes first).
  await using server = startTestServer({
    MEMORY_BUDGET_BYTES: String(SSE_STREAM_BYTES * 1.5),
  });
  using deadline = streamDeadline(20_000, "the first stream to be shed");
  const first = await fetch(`${server.http}/sse`, { signal: deadline.signal });
  const events = readEvents(first.body!);
  assert.equal((await events.next()).value?.event, "server");
  const second = await fetch(`${server.http}/sse`, {
    signal: deadline.signal,
  });
  let last: ServerSentEvent | undefined;
  for await (const event of events) last = event;
  assert.equal(last?.event, "end");
  assert.deepEqual(JSON.parse(last.data), {
    reason: "server overloaded (memory budget): try again later",
  });
  assert.equal(server.services.memory.state().shed.memory_budget, 1);
  assert.equal(
    server.services.metrics.breaches.get("memory_budget"),
    1,
    "counted as a memory_budget breach",
  );
  await second.body!.cancel();
});

Deno.test("/sse streams count what one costs in RSS: a budget of 1 MiB keeps no more than 8 open, refusing or shedding the rest", async () => {
  // 10 streams at 4 KiB each were 40 KiB of a 1 MiB budget: all stayed,
  // while each held about 100 KiB of the process's RSS (issue #20).
  const budget = 1024 * 1024;
  await using server = startTestServer({
    MEMORY_BUDGET_BYTES: String(budget),
    MAX_CONNECTIONS_PER_IP: "0",
  });
  const { memory, metrics } = server.services;
  using deadline = streamDeadline(20_000, "10 /sse requests");
  const responses: Response[] = [];
  try {
    for (let i = 0; i < 10; i++) {
      responses.push(
        await fetch(`${server.http}/sse`, { signal: deadline.signal }),
      );
    }
    const refused = responses.filter(({ status }) => status === 503).length;
    await until(
      () => metrics.streamsOpen <= 8,
      `at most 8 streams open (${metrics.streamsOpen} open, ${refused} refused)`,
      { timeoutMs: 10_000 },
    );
    assert.ok(
      refused + memory.state().shed.memory_budget >= 2,
      `${refused} refused and ${memory.state().shed.memory_budget} shed of 10`,
    );
    assert.ok(memory.state().usedBytes <= budget);
  } finally {
    for (const response of responses) await response.body?.cancel();
  }
});
