/**
 * Hostile clients against the whole-process limits (issue #12): flooders
 * that never read, from several loopback addresses, against the memory
 * budget; the RSS guard; a bystander that must not notice.
 */
import assert from "node:assert/strict";
import net from "node:net";
import {
  BACKLOG_CHECK_BYTES,
  heldReadBytes,
  IN_FLIGHT_BYTES,
  memoryCharge,
} from "../../lib/connection/backlog.ts";
import { startTestServer, type TestServer } from "../_server.ts";
import { closeAndWait, connect, until } from "../_client.ts";
import { clientFrame, rawRequest, upgradeRequest } from "../../bench/wire.ts";

const MiB = 1024 * 1024;

/**
 * A WebSocket client on `localAddress` that sends binary frames of
 * `frameBytes` (64 KiB unless told) as fast as the server takes them and
 * never reads. Resolves once upgraded;
 * `start()` starts the flood, `stop()` destroys the socket and waits for it
 * to close.
 */
async function flooder(
  port: number,
  localAddress: string,
  frameBytes = 64 * 1024,
): Promise<Flooder> {
  const socket = net.connect({ host: "127.0.0.1", port, localAddress });
  const closed = new Promise<void>((resolve) => socket.once("close", resolve));
  socket.on("error", () => {}); // A reset is expected: the server sheds it.
  const upgraded = Promise.withResolvers<void>();
  const timer = setTimeout(
    () => upgraded.reject(new Error(`No 101 for ${localAddress} in 5000 ms`)),
    5000,
  );
  socket.once("data", (chunk: Uint8Array) => {
    socket.pause(); // Never read again: the echoes pile up on the server.
    const head = new TextDecoder().decode(chunk.subarray(0, 12));
    if (head.startsWith("HTTP/1.1 101")) upgraded.resolve();
    else upgraded.reject(new Error(`${localAddress}: ${head}`));
  });
  socket.once("connect", () => socket.write(upgradeRequest("/echo")));
  try {
    await upgraded.promise;
  } catch (error) {
    socket.destroy();
    await closed;
    throw error;
  } finally {
    clearTimeout(timer);
  }
  const frame = clientFrame(0x2, new Uint8Array(frameBytes));
  let running = true;
  const pump = () => {
    while (running && !socket.destroyed && socket.write(frame));
  };
  return {
    start() {
      socket.on("drain", pump);
      pump();
    },
    async stop() {
      running = false;
      socket.destroy();
      await closed;
    },
  };
}

/** What {@link flooder} resolves to. */
type Flooder = { start(): void; stop(): Promise<void> };

/**
 * `perHost` flooders from each of `${network}.1` to `${network}.4`, pushed
 * into `flooders` as each is upgraded (so the caller's `finally` stops
 * those made when one fails), then all started.
 */
async function startFlooders(
  flooders: Flooder[],
  { port, network, perHost, frameBytes }: {
    port: number;
    network: string;
    perHost: number;
    frameBytes?: number;
  },
): Promise<void> {
  for (let host = 1; host <= 4; host++) {
    for (let i = 0; i < perHost; i++) {
      flooders.push(await flooder(port, `${network}.${host}`, frameBytes));
    }
  }
  for (const flood of flooders) flood.start();
}

/**
 * One upgrade from `localAddress`: its status line's code, `Retry-After`
 * and the start of its body (the socket is closed once the head is in).
 */
async function upgradeFrom(
  port: number,
  localAddress: string,
): Promise<{ status: number; retryAfter: string; body: string }> {
  const socket = net.connect({ host: "127.0.0.1", port, localAddress });
  socket.on("error", () => {});
  const closed = new Promise<void>((resolve) => socket.once("close", resolve));
  socket.once("connect", () => socket.write(upgradeRequest("/echo")));
  const text = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`No answer for ${localAddress} in 5000 ms`)),
      5000,
    );
    let got = "";
    socket.on("data", (chunk: Uint8Array) => {
      got += new TextDecoder().decode(chunk);
      if (got.includes("\r\n\r\n")) {
        clearTimeout(timer);
        resolve(got);
      }
    });
  }).finally(() => socket.destroy());
  await closed;
  const [head = "", body = ""] = text.split("\r\n\r\n", 2);
  return {
    status: Number(head.slice(9, 12)),
    retryAfter: /^retry-after: *(.*)$/im.exec(head)?.[1]?.trim() ?? "",
    body,
  };
}

/**
 * Waits (20 s) for the memory guard's first shed (a `memory_budget`
 * breach); past the deadline the error says what the guard and the
 * counters read.
 */
async function untilShed(services: TestServer["services"]): Promise<void> {
  const { memory, metrics } = services;
  await until(
    () => (metrics.breaches.get("memory_budget") ?? 0) > 0,
    "the memory guard to shed a flooder",
    { timeoutMs: 20_000 },
  ).catch((error) => {
    throw new Error(
      `${error.message}: ${JSON.stringify(memory.state())} ${
        JSON.stringify([...metrics.breaches])
      } in=${metrics.bytesIn} out=${metrics.bytesOut}`,
    );
  });
}

/**
 * Holds back the kernel aborts of the connections the guard sheds
 * (`held_sockets.ts`) until the returned function is called: till then
 * they stay counted, and the guard refuses until CLOSING_WAIT_MS after its
 * last shed. Unheld, they are aborted about a second after their shed and
 * the guard admits again once they have gone: a look at the refusal later
 * than that met a guard with nothing over, and no 503 for the rest of its
 * 20 s (a busy full run: four suites and two `yes` on two cores).
 */
function holdAborts(services: TestServer["services"]): () => void {
  const held = services.held;
  assert.ok(held, "the test server aborts held sockets");
  const hold = held.hold.bind(held);
  const waiting: Parameters<typeof hold>[] = [];
  held.hold = (...args) => void waiting.push(args);
  return () => {
    held.hold = hold;
    for (const args of waiting.splice(0)) hold(...args);
  };
}

/** The bystander on 127.0.0.1 sends and gets its echo back. */
async function bystanderEchoes(server: TestServer, text: string) {
  const { socket, inbox } = await connect(`${server.ws}/echo`);
  socket.send(text);
  assert.equal(await inbox.next(), text);
  await closeAndWait(socket, inbox);
}

Deno.test("non-reading flooders from several addresses stay within MEMORY_BUDGET_BYTES while a bystander keeps echoing", async () => {
  const budget = 16 * MiB;
  // The per-connection cap is off: the budget alone has to hold the flood.
  await using server = startTestServer({
    MEMORY_BUDGET_BYTES: String(budget),
    MAX_RSS_BYTES: "0",
    MAX_BUFFERED_BYTES: "0",
    RATE_LIMIT_BYTES_PER_SECOND: "0",
    RATE_LIMIT_MESSAGES_PER_SECOND: "0",
    MAX_CONNECTIONS_PER_IP: "2",
  });
  const { memory } = server.services;
  const bystander = await connect(`${server.ws}/echo`);
  let peak = 0;
  const watch = setInterval(() => {
    peak = Math.max(peak, memory.state().usedBytes);
  }, 5);
  const flooders: Flooder[] = [];
  const letGo = holdAborts(server.services);
  try {
    await startFlooders(flooders, {
      port: server.port,
      network: "127.0.3",
      perHost: 2,
    });
    await untilShed(server.services);
    // The shed flooders stay counted until the test lets them go: the
    // guard is over, and the first upgrade from their network is refused.
    const refusal = await upgradeFrom(server.port, "127.0.3.9");
    assert.equal(refusal.status, 503, "a new upgrade is refused while over");
    assert.equal(refusal.retryAfter, "5");
    assert.match(refusal.body, /^Server overloaded/);
    assert.equal(memory.refusing, "memory_budget", "still over after it");
    bystander.socket.send("still here");
    assert.equal(
      await bystander.inbox.next(),
      "still here",
      "the bystander echoes during the flood",
    );
  } catch (error) {
    await closeAndWait(bystander.socket, bystander.inbox);
    throw error;
  } finally {
    letGo();
    clearInterval(watch);
    for (const flood of flooders) await flood.stop();
  }
  // Shed connections count until Deno reports them closed (their buffers
  // are real memory until then), so the count can pass the budget by what
  // they hold, up to one budget more; each connection can also pass its last
  // count by one check's worth of bytes before the guard hears of it.
  const slack = flooders.length * (BACKLOG_CHECK_BYTES + 64 * 1024) +
    IN_FLIGHT_BYTES;
  assert.ok(
    peak <= 2 * budget + slack,
    `counted ${(peak / MiB).toFixed(1)} MiB at most, budget ${
      budget / MiB
    } MiB`,
  );
  await until(
    () => memory.state().usedBytes === 0,
    "the flooders' charges to go",
    { timeoutMs: 10_000 },
  );
  assert.equal(memory.shedding, undefined);
  await bystanderEchoes(server, "a new client is admitted after");
  await closeAndWait(bystander.socket, bystander.inbox);
});

Deno.test("non-readers sending 1 MiB messages are never counted past MEMORY_BUDGET_BYTES: an echo that does not fit is not queued, its client is shed", async () => {
  const budget = 16 * MiB;
  await using server = startTestServer({
    MEMORY_BUDGET_BYTES: String(budget),
    MAX_RSS_BYTES: "0",
    MAX_BUFFERED_BYTES: "0",
    RATE_LIMIT_BYTES_PER_SECOND: "0",
    RATE_LIMIT_MESSAGES_PER_SECOND: "0",
    MAX_CONNECTIONS_PER_IP: "4",
  });
  const { memory, metrics } = server.services;
  // The count after every change of it: the flood can pass the budget and
  // be shed back within one turn of the event loop.
  // Each connection that has sent a 1 MiB message is charged what Deno
  // keeps for it (heldReadBytes), which no check can refuse: it is there
  // once the message has arrived, and it holds the message in flight. The
  // rest, its queued echoes, with a message in flight once behind
  // (memoryCharge), is what the checks hold.
  const held = heldReadBytes(MiB);
  const charges = new Map<unknown, number>();
  let peak = 0;
  const charge = memory.charge.bind(memory);
  memory.charge = (connection, bytes) => {
    charge(connection, bytes);
    if (bytes === 0) charges.delete(connection);
    else charges.set(connection, bytes);
    const queued = [...charges.values()].reduce(
      (sum, bytes) => sum + memoryCharge(Math.max(0, bytes - held)),
      0,
    );
    peak = Math.max(peak, queued);
  };
  const flooders: Flooder[] = [];
  try {
    await startFlooders(flooders, {
      port: server.port,
      network: "127.0.4",
      perHost: 4,
      frameBytes: MiB,
    });
    // Each is given a 1 MiB echo with nothing queued in Deno once the
    // kernel's buffers are full: unchecked, 16 of them (2 MiB each with
    // what is in flight) took the count to twice the budget.
    await until(
      () => (metrics.breaches.get("memory_budget") ?? 0) >= 8,
      "the memory guard to shed half of them",
      { timeoutMs: 20_000 },
    );
    assert.equal(memory.shedding, "memory_budget");
  } finally {
    for (const flood of flooders) await flood.stop();
  }
  assert.ok(
    peak <= budget,
    `counted ${(peak / MiB).toFixed(1)} MiB queued at most, budget ${
      budget / MiB
    } MiB`,
  );
  await until(
    () => memory.state().usedBytes === 0,
    "the flooders' charges to go",
    { timeoutMs: 10_000 },
  );
  await bystanderEchoes(server, "a new client is admitted after");
});

Deno.test("over MAX_RSS_BYTES new upgrades get 503 and /healthz, /metrics and /limits say so", async (t) => {
  // An RSS limit of 1 byte is always passed: the guard trips at its sample.
  // The overload watch is off: at 1 byte any RSS growth is uncounted memory
  // to it, and it recycled the listener (1013, connection refused) mid-test
  // on a busy machine; tests/start/overload_watch_test.ts tests the watch.
  await using server = startTestServer({
    MEMORY_BUDGET_BYTES: "0",
    MAX_RSS_BYTES: "1",
  }, { overloadWatch: false });
  const open = await connect(`${server.ws}/echo`);
  server.services.memory.sample();
  await t.step("an upgrade is refused with 503 and Retry-After", async () => {
    const response = await rawRequest(server.port, upgradeRequest("/echo"));
    assert.equal(response.status, 503);
    assert.equal(response.headers.get("retry-after"), "5");
    assert.match(response.body, /^Server overloaded/);
  });
  await t.step("/sse is refused the same way", async () => {
    const response = await fetch(`${server.http}/sse`);
    assert.equal(response.status, 503);
    await response.body?.cancel();
  });
  await t.step("/healthz says it is shedding, and stays 200", async () => {
    const response = await fetch(`${server.http}/healthz`);
    assert.equal(response.status, 200);
    const health = await response.json();
    assert.equal(health.status, "shedding");
    assert.equal(health.memory.shedding, "rss");
    assert.ok(health.memory.rssBytes > 1);
  });
  await t.step("/metrics has the gauges and the refusals", async () => {
    const text = await (await fetch(`${server.http}/metrics`)).text();
    assert.match(text, /^ws_echo_shedding 1$/m);
    assert.match(text, /^ws_echo_max_rss_bytes 1$/m);
    assert.match(text, /^ws_echo_refusals_total\{reason="overloaded"\} 2$/m);
  });
  await t.step("/limits reports the RSS limit", async () => {
    const { limits } = await (await fetch(`${server.http}/limits`)).json();
    assert.equal(limits.maxRssBytes.value, 1);
    assert.equal(limits.memoryBudgetBytes.off, true);
  });
  await t.step(
    "an open connection without a backlog keeps echoing",
    async () => {
      open.socket.send("unaffected");
      assert.equal(await open.inbox.next(), "unaffected");
    },
  );
  await closeAndWait(open.socket, open.inbox);
});

Deno.test("while the budget sheds clients that never read, a newcomer from a network it has not shed is admitted and one from a shed network is refused", async () => {
  await using server = startTestServer({
    MEMORY_BUDGET_BYTES: String(16 * MiB),
    MAX_RSS_BYTES: "0",
    MAX_BUFFERED_BYTES: "0",
    RATE_LIMIT_BYTES_PER_SECOND: "0",
    RATE_LIMIT_MESSAGES_PER_SECOND: "0",
    MAX_CONNECTIONS_PER_IP: "2",
  });
  const { memory } = server.services;
  const flooders: Flooder[] = [];
  // The shed flooders stay counted until the test lets them go, so both
  // upgrades below are decided while the guard refuses for its budget.
  const letGo = holdAborts(server.services);
  try {
    await startFlooders(flooders, {
      port: server.port,
      network: "127.0.6",
      perHost: 2,
    });
    await untilShed(server.services);
    // Each try from a fresh network: one is admitted once what the
    // flooders not yet shed hold is under RESUME_BELOW (before, every one
    // got 503 while it shed).
    const statuses: number[] = [];
    for (let net = 7; net < 200 && !statuses.includes(101); net++) {
      statuses.push((await upgradeFrom(server.port, `127.0.${net}.1`)).status);
    }
    assert.ok(
      statuses.includes(101),
      `a newcomer from another network admitted while shedding: ${statuses.length} tries, ${[
        ...new Set(statuses),
      ]}`,
    );
    const fromShed = await upgradeFrom(server.port, "127.0.6.9");
    assert.equal(fromShed.status, 503, "the flooders' network is refused");
    assert.equal(memory.refusing, "memory_budget", "still shedding after both");
  } finally {
    letGo();
    for (const flood of flooders) await flood.stop();
  }
});
