/**
 * Under `deno serve --parallel` each worker strikes its own connections'
 * clients, and Deno hands a client's next connection to any worker: a
 * listing must reach them all (`suspect_peers.ts`). Two apps stand for two
 * workers, each with its own end of one BroadcastChannel.
 */
import assert from "node:assert/strict";
import { BroadcastSuspectPeers } from "../../lib/admission/suspect_peers.ts";
import { SuspectList } from "../../lib/admission/suspects.ts";
import { createApp } from "../../routes/app.ts";
import { parseConfig } from "../../lib/config.ts";
import { until } from "../_client.ts";

/** One worker: an app on the shared channel `name`. */
function worker(name: string) {
  const app = createApp(parseConfig({}), {
    log: () => {},
    suspectPeers: new BroadcastSuspectPeers({ name }),
  });
  return {
    ...app,
    /** An upgrade to /echo from `hostname`, as Deno hands it to this worker. */
    upgrade: (hostname: string) =>
      app.fetch(
        new Request("http://127.0.0.1/echo", {
          headers: {
            host: "127.0.0.1",
            upgrade: "websocket",
            connection: "Upgrade",
            "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
            "sec-websocket-version": "13",
          },
        }),
        {
          remoteAddr: { transport: "tcp", hostname, port: 40000 },
        } as Deno.ServeHandlerInfo<Deno.NetAddr>,
      ),
    [Symbol.dispose]() {
      app.services.suspects.dispose();
      app.services.memory.dispose();
      app.services.registry.dispose();
      app.services.sweep.dispose();
      app.services.refusalLog.dispose();
    },
  };
}

Deno.test("deno serve: an address listed in one worker is refused by every worker", async (t) => {
  const name = `suspect-peers-test-${crypto.randomUUID()}`;
  using striking = worker(name);
  using other = worker(name);
  using third = worker(name);
  const attacker = "127.0.9.9";

  await t.step("struck once: refused by none", async () => {
    striking.services.suspects.strike([attacker]);
    await until(
      () => other.services.suspects.struckBefore(attacker),
      "the strike to reach the other worker",
    );
    assert.equal(other.services.suspects.refusedFor(attacker), 0);
  });

  await t.step(
    "listed at its second strike: the others refuse it with 429 for as long",
    async () => {
      const [listed] = striking.services.suspects.strike([attacker]);
      assert.equal(listed!.refusedForSeconds, 300);
      await until(
        () =>
          other.services.suspects.refusedFor(attacker) > 0 &&
          third.services.suspects.refusedFor(attacker) > 0,
        "the listing to reach the other workers",
      );
      for (const { services, upgrade } of [other, third]) {
        const seconds = services.suspects.refusedFor(attacker);
        assert.ok(seconds > 295 && seconds <= 300, `${seconds} s left`);
        const response = await upgrade(attacker);
        assert.equal(response.status, 429);
        assert.match(await response.text(), /struck at repeated overload/);
      }
    },
  );

  await t.step("another address is still admitted there", async () => {
    const response = await other.upgrade("127.0.9.10");
    assert.equal(response.status, 101, "upgraded");
    await response.body?.cancel();
    assert.equal(other.services.suspects.refusedFor("127.0.9.10"), 0);
  });

  await t.step(
    "struck at two incidents, one in each worker: listed, and refused by all",
    async () => {
      const key = "127.0.9.20";
      striking.services.suspects.strike([key], Date.now() - 10_000);
      await until(
        () => other.services.suspects.struckBefore(key),
        "the first strike to reach the other worker",
      );
      const [listed] = other.services.suspects.strike([key]);
      assert.equal(listed!.refusedForSeconds, 300);
      await until(
        () =>
          striking.services.suspects.refusedFor(key) > 0 &&
          third.services.suspects.refusedFor(key) > 0,
        "the listing to reach the other workers",
      );
    },
  );

  await t.step(
    "struck by two workers at one incident (each holding its connections): one strike, not listed",
    async () => {
      const key = "127.0.9.30";
      striking.services.suspects.strike([key]);
      await until(
        () => other.services.suspects.struckBefore(key),
        "the first worker's strike to reach the other",
      );
      const [second] = other.services.suspects.strike([key]);
      assert.equal(second!.refusedForSeconds, 0, "not listed at once");
      // A worker's posts arrive in order: once its vouch is heard, so was
      // its strike.
      striking.services.suspects.vouch(["127.0.9.31"]);
      other.services.suspects.vouch(["127.0.9.32"]);
      await until(
        () =>
          [striking, other, third].every(({ services }) =>
            services.suspects.vouched("127.0.9.31") &&
            services.suspects.vouched("127.0.9.32")
          ),
        "every worker to hear both strikes",
      );
      for (const { services } of [striking, other, third]) {
        assert.equal(services.suspects.refusedFor(key), 0);
      }
    },
  );

  await t.step(
    "seen exchanging messages in one worker: its strike is forgotten by all",
    async () => {
      const key = "127.0.9.40";
      striking.services.suspects.strike([key], Date.now() - 10_000);
      await until(
        () => other.services.suspects.struckBefore(key),
        "the strike to reach the other worker",
      );
      // At an incident before the next strike: a vouch does not take back
      // another worker's strike at the same one (suspects_test).
      striking.services.suspects.vouch([key], Date.now() - 5_000);
      await until(
        () => !other.services.suspects.struckBefore(key),
        "the vouch to reach the other worker",
      );
      const [again] = other.services.suspects.strike([key]);
      assert.equal(again!.refusedForSeconds, 0);
    },
  );

  await t.step("a worker that adopted a listing counts none of its own", () => {
    assert.equal(striking.services.suspects.state().listedTotal, 1);
    assert.equal(other.services.suspects.state().listedTotal, 1);
    assert.equal(third.services.suspects.state().listedTotal, 0);
    assert.equal(third.services.suspects.state().refused, 2);
  });
});

Deno.test("a strike after the server stopped hearing the other workers is kept here, not thrown", () => {
  // The leak-exit drain and a SIGTERM during an `ss` read dispose the list
  // before the overload watch's last strike: postMessage on a closed
  // BroadcastChannel throws InvalidStateError.
  const suspects = new SuspectList({
    peers: new BroadcastSuspectPeers({
      name: `suspect-peers-test-${crypto.randomUUID()}`,
    }),
  });
  suspects.dispose();
  const [strike] = suspects.strike(["127.0.9.50"], 0);
  assert.equal(strike!.strikes, 1);
  suspects.vouch(["127.0.9.51"], 0);
  assert.ok(suspects.vouched("127.0.9.51", 0));
});

Deno.test("news on the channel not of SuspectNews' shape is dropped; news of it is adopted", async () => {
  const name = `suspect-peers-test-${crypto.randomUUID()}`;
  const peers = new BroadcastSuspectPeers({ name });
  const heard: unknown[] = [];
  peers.listen((news) => heard.push(news));
  const other = new BroadcastChannel(name);
  try {
    for (
      const bad of [
        null,
        "strike",
        { kind: "strike", at: Number.NaN, struck: [] },
        { kind: "strike", at: 1, struck: [{ key: 7 }] },
        { kind: "vouch", at: 1, keys: "127.0.0.1" },
        { kind: "aborting", at: 1, addresses: [1] },
        { kind: "listing", at: 1 },
      ]
    ) other.postMessage(bad);
    const good = { kind: "aborting", at: 1, addresses: ["127.0.0.1"] };
    other.postMessage(good);
    // Messages arrive in order: the good one last.
    await until(() => heard.length > 0, "the well-formed news");
    assert.deepEqual(heard, [good]);
  } finally {
    other.close();
    peers.close();
  }
});
