/**
 * OpenTelemetry: with OTEL_DENO=true every instrument reaches a receiver,
 * and docs/operations.md names each beside its Prometheus name.
 */
import assert from "node:assert/strict";
import { INSTRUMENTS } from "../../lib/telemetry.ts";
import { ROOT, startService } from "../_server.ts";
import { closeAndWait, connect, until } from "../_client.ts";

const LOOPBACK = { PORT: "0", BIND_ADDRESS: "127.0.0.1" };

/** Reported only with a room bridge (workers or Redis): none here. */
const BRIDGE_ONLY = "ws_echo.room.bridge.connected";
/** Known only with --allow-all (Deno reads /proc only then): not the task's. */
const ALLOW_ALL_ONLY = [
  "ws_echo.descriptors.open",
  "ws_echo.descriptors.limit",
];
/** What a service without a bridge exports under the start task. */
const EXPECTED = INSTRUMENTS.map(({ name }) => name).filter((name) =>
  name !== BRIDGE_ONLY && !ALLOW_ALL_ONLY.includes(name)
);

Deno.test("with OTEL_DENO=true every ws_echo. instrument reaches an OTLP/HTTP receiver (the bridge's only with a bridge)", async () => {
  // Each body is decoded once, on arrival: decoding them all at every check
  // kept this process (and the receiver in it) busy for 385 ms a check.
  const latin1 = new TextDecoder("latin1");
  let exported = "";
  const receiver = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      const path = new URL(request.url).pathname;
      const body = new Uint8Array(await request.arrayBuffer());
      if (request.method === "POST" && path === "/v1/metrics") {
        exported += latin1.decode(body);
      }
      return new Response(null, { status: 200 });
    },
  );
  let receiving: Promise<void> | undefined;
  const stopReceiver = () => receiving ??= receiver.shutdown();
  try {
    await using service = await startService({
      ...LOOPBACK,
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.addr.port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
      OTEL_METRIC_EXPORT_INTERVAL: "200",
    });
    const url = `ws://127.0.0.1:${service.port}`;
    // A refusal, so ws_echo.refusals has a point: a subprotocol list that is malformed.
    const refused = await fetch(`http://127.0.0.1:${service.port}/echo`, {
      headers: {
        upgrade: "websocket",
        connection: "Upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
        "sec-websocket-protocol": "a b",
      },
    });
    await refused.body?.cancel();
    assert.equal(refused.status, 400);
    const { socket, inbox } = await connect(`${url}/echo`);
    socket.send("hello");
    assert.equal(await inbox.next(), "hello");
    await closeAndWait(socket, inbox);
    // Exceeding MAX_MESSAGE_BYTES is a limit breach.
    const big = await connect(`${url}/echo?close_after=1`);
    big.socket.send("x".repeat(2 * 1024 * 1024));
    assert.equal((await big.inbox.closed()).code, 1009);
    await until(
      () => EXPECTED.every((name) => exported.includes(name)),
      "every ws_echo. instrument in the exported metrics",
      { timeoutMs: 10_000 },
    ).catch((error) => {
      const missing = EXPECTED.filter((name) => !exported.includes(name));
      throw new Error(`${error.message}; missing ${missing.join(", ")}`);
    });
    assert.ok(!exported.includes(BRIDGE_ONLY), "no bridge, no bridge gauge");
    for (const name of ALLOW_ALL_ONLY) {
      assert.ok(!exported.includes(name), `no --allow-all, no ${name}`);
    }
    for (const unit of ["{connection}", "{message}", "By"]) {
      assert.ok(exported.includes(unit), `unit ${unit} exported`);
    }
    // The receiver stops before the service: Deno 2.9.6's exit can wait
    // forever on an export still in flight when the next one falls due
    // (DenoPeriodicReader in Deno's ext/telemetry/lib.rs then waits for the
    // JS thread, blocked in Deno.exit, to observe); with no receiver,
    // exports fail at once.
    await stopReceiver();
  } finally {
    await stopReceiver();
  }
});

Deno.test("docs/operations.md documents every OpenTelemetry instrument next to its Prometheus name", async () => {
  const operations = await Deno.readTextFile(`${ROOT}/docs/operations.md`);
  for (const { name, unit, prometheus } of INSTRUMENTS) {
    const row = operations.split("\n").find((line) =>
      line.startsWith(`| \`${name}\``)
    );
    assert.ok(row, `docs/operations.md row for ${name}`);
    assert.ok(row.includes(`\`${unit}\``), `${name} unit ${unit}`);
    assert.ok(row.includes(prometheus), `${name} next to ${prometheus}`);
  }
});
