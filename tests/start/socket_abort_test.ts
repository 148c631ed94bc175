/**
 * SsSocketAbort: `ss -K` on a real loopback connection. Destroying a socket
 * needs CAP_NET_ADMIN; without it the connection is reported as left.
 */
import assert from "node:assert/strict";
import { listedPeers, SsSocketAbort } from "../../lib/start/socket_abort.ts";
import { CAN_ABORT, netlinkLessSs, WITHOUT_ABORT } from "./_overload.ts";

/** A loopback listener, a client connected to it and the accepted side. */
async function connectedPair() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  const served = await listener.accept();
  return { listener, client, served };
}

Deno.test("SsSocketAbort aborts a listener's connection by its peer, or says it is left", async () => {
  const { listener: bound, client, served } = await connectedPair();
  using listener = bound;
  try {
    const peer = client.localAddr as Deno.NetAddr;
    const answer = await new SsSocketAbort(listener.addr.port).abort([peer]);
    assert.ok(!("unavailable" in answer), JSON.stringify(answer));
    if (CAN_ABORT) {
      assert.equal(answer.aborted, 1);
      assert.equal(answer.left.size, 0);
      // The server's side is gone: its next write fails.
      await assert.rejects(() => served.write(new Uint8Array(1)));
    } else {
      assert.equal(answer.aborted, 0);
      assert.deepEqual([...answer.left], [peer]);
      assert.match(answer.refused ?? "", /SOCK_DESTROY/);
    }
  } finally {
    served.close();
    client.close();
  }
});

Deno.test("SsSocketAbort takes a connection the listener closed first (TIME-WAIT) for gone: nothing to abort, nothing left", async () => {
  const { listener: bound, client, served } = await connectedPair();
  using listener = bound;
  const peer = client.localAddr as Deno.NetAddr;
  // The server's side closes first, as after a completed close handshake:
  // the kernel keeps its socket in TIME-WAIT for 60 s, holding nothing.
  served.close();
  assert.equal(await client.read(new Uint8Array(1)), null);
  client.close();
  const filter = `( sport = :${listener.addr.port} )`;
  const listed = new TextDecoder().decode(
    (await new Deno.Command("ss", {
      args: ["-tnH", "state", "time-wait", filter],
    }).output()).stdout,
  );
  // One state asked: no state column, so listedPeers does not apply.
  assert.ok(
    listed.includes(` ${peer.hostname}:${peer.port}`),
    `the server's socket is in TIME-WAIT: ${listed}`,
  );
  const answer = await new SsSocketAbort(listener.addr.port).abort([peer]);
  assert.ok(!("unavailable" in answer), JSON.stringify(answer));
  assert.equal(answer.aborted, 0);
  assert.equal(answer.left.size, 0);
});

Deno.test("SsSocketAbort.abortSync aborts while blocking the loop, or says the peer is left and is refused from then on", async () => {
  const { listener: bound, client, served } = await connectedPair();
  using listener = bound;
  try {
    const peer = client.localAddr as Deno.NetAddr;
    const abort = new SsSocketAbort(listener.addr.port);
    const answer = abort.abortSync([peer]);
    assert.ok(!("unavailable" in answer), JSON.stringify(answer));
    if (CAN_ABORT) {
      assert.equal(answer.aborted, 1);
      assert.equal(answer.left.size, 0);
      await assert.rejects(() => served.write(new Uint8Array(1)));
    } else {
      assert.equal(answer.aborted, 0);
      assert.deepEqual([...answer.left], [peer]);
      assert.match(answer.refused ?? "", /SOCK_DESTROY/);
      // Not asked again: the kernel's refusal stands.
      assert.match(
        JSON.stringify(abort.abortSync([peer])),
        /"unavailable":".*SOCK_DESTROY/,
      );
    }
  } finally {
    served.close();
    client.close();
  }
});

Deno.test("SsSocketAbort says it could not abort where ss cannot open netlink (it lists the sockets, destroying none)", async () => {
  await using ss = await netlinkLessSs();
  const abort = new SsSocketAbort(1, { command: ss.path });
  const peer = { transport: "tcp" as const, hostname: "127.0.0.1", port: 2 };
  for (const answer of [await abort.abort([peer]), abort.abortSync([peer])]) {
    assert.ok("unavailable" in answer, JSON.stringify(answer));
    assert.match(answer.unavailable, /Cannot open netlink socket/);
  }
});

Deno.test("SsSocketAbort says why when ss cannot run", async () => {
  const answer = await new SsSocketAbort(1, { command: "no-such-program" })
    .abort([{ transport: "tcp", hostname: "127.0.0.1", port: 2 }]);
  assert.ok("unavailable" in answer);
});

Deno.test("listedPeers reads the peer column of ss output, IPv6 and mapped too", () => {
  const text = "ESTAB 0 0 127.0.0.1:80 127.0.0.7:46633\n" +
    "ESTAB 0 0 [::ffff:127.0.0.1]:80 [::ffff:127.0.0.8]:45777\n" +
    "ESTAB 0 0 [::1]:80 [::1]:60134\n";
  assert.deepEqual([...listedPeers(text)], [
    "127.0.0.7:46633",
    "127.0.0.8:45777",
    "::1:60134",
  ]);
});

Deno.test({
  name:
    "SsSocketAbort without CAP_NET_ADMIN counts none of 50 aborted, though ss -K lists them",
  // WITHOUT_ABORT is empty where the capability is missing anyway.
  ignore: !CAN_ABORT,
  async fn() {
    const output = await new Deno.Command(WITHOUT_ABORT[0]!, {
      args: [
        ...WITHOUT_ABORT.slice(1),
        Deno.execPath(),
        "run",
        "-A",
        new URL("../fixtures/abort_many.ts", import.meta.url).pathname,
        "50",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const said = new TextDecoder().decode(output.stdout).trim();
    assert.ok(output.success, new TextDecoder().decode(output.stderr));
    const answer = JSON.parse(said);
    assert.equal(answer.aborted, 0, said);
    assert.equal(answer.left, 50, said);
    assert.match(answer.refused ?? "", /SOCK_DESTROY/);
  },
});
