/**
 * The upgrade decision without a server: a request and a peer in, an
 * admitted client with its slot or a refusal out.
 *
 * @module
 */
import assert from "node:assert/strict";
import { MemoryGuard } from "../../lib/admission/memory_guard.ts";
import { RefusalLog } from "../../lib/admission/refusal_log.ts";
import { ConnectionRegistry } from "../../lib/admission/slots.ts";
import { SuspectList } from "../../lib/admission/suspects.ts";
import { type Config, DEFAULT_CONFIG, parseConfig } from "../../lib/config.ts";
import {
  type Admitted,
  decideUpgrade,
  type Refused,
  type UpgradeEndpoint,
} from "../../lib/connection/upgrade.ts";
import { IdSource } from "../../lib/ids.ts";
import { Metrics } from "../../lib/metrics.ts";
import { refusal } from "../../lib/refusals.ts";

const PEER: Deno.NetAddr = {
  transport: "tcp",
  hostname: "203.0.113.9",
  port: 50000,
};

const UPGRADE = {
  upgrade: "websocket",
  connection: "Upgrade",
  "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
  "sec-websocket-version": "13",
};

function services(config: Config = DEFAULT_CONFIG) {
  return {
    config,
    metrics: new Metrics(),
    memory: new MemoryGuard({ budgetBytes: 0, maxRssBytes: 0 }),
    registry: new ConnectionRegistry({
      maxPerIp: config.maxConnectionsPerIp,
      maxTotal: config.maxConnections,
    }),
    suspects: new SuspectList(),
    log: () => {},
    refusalLog: new RefusalLog(() => {}),
    ids: new IdSource(),
    [Symbol.dispose]() {
      this.registry.dispose();
      this.memory.dispose();
      this.refusalLog.dispose();
    },
  };
}

function decide(
  app: ReturnType<typeof services>,
  target: string,
  headers: Record<string, string> = UPGRADE,
  options: { endpoint?: UpgradeEndpoint; peer?: Deno.NetAddr } = {},
): Admitted | Refused {
  return decideUpgrade(app, {
    endpoint: options.endpoint ?? { path: new URL(target).pathname },
    request: new Request(target, { headers }),
    peer: options.peer ?? PEER,
  });
}

function admitted(decision: Admitted | Refused): Admitted {
  assert.ok(!("refusal" in decision), JSON.stringify(decision));
  return decision;
}

function refused(decision: Admitted<unknown> | Refused): Refused["refusal"] {
  assert.ok("refusal" in decision, "refused");
  return decision.refusal;
}

Deno.test("decideUpgrade() admits a valid upgrade with its slot, subprotocol and options", async (t) => {
  await t.step(
    "a plain echo: the first subprotocol offered, nothing sent first",
    () => {
      using app = services();
      const decision = admitted(
        decide(app, "http://localhost/echo", {
          ...UPGRADE,
          "sec-websocket-protocol": "chat, superchat",
        }),
      );
      assert.equal(decision.protocol, "chat");
      assert.deepEqual(decision.prelude, []);
      assert.equal(decision.closeCommands, false);
      assert.equal(decision.client.ip, "203.0.113.9");
      assert.equal(
        app.registry.countFor("203.0.113.9"),
        1,
        "the slot is taken",
      );
      decision.lease.release();
    },
  );
  await t.step("greeting=1 sends the welcome with the connection id", () => {
    using app = services();
    const decision = admitted(decide(app, "http://localhost/echo?greeting=1"));
    assert.equal(decision.prelude.length, 1);
    assert.match(decision.prelude[0]!, new RegExp(decision.id));
    decision.lease.release();
  });
  await t.step("the caps are checked once, as the slot is taken", () => {
    using app = services();
    let checks = 0;
    const noSlotFor = app.registry.noSlotFor.bind(app.registry);
    app.registry.noSlotFor = (key) => {
      checks++;
      return noSlotFor(key);
    };
    admitted(decide(app, "http://localhost/echo")).lease.release();
    assert.equal(checks, 1);
  });
});

Deno.test("decideUpgrade() refuses without taking a slot, with the catalogue's answer", async (t) => {
  await t.step("a plain GET: 426 naming the ws: URL", () => {
    using app = services();
    const answer = refused(decide(app, "http://localhost/echo", {}));
    assert.equal(answer.status, 426);
    assert.equal(answer.headers.Upgrade, "websocket");
    assert.match(answer.body, /ws:\/\/localhost\/echo/);
    assert.equal(app.registry.total, 0);
  });
  await t.step("behind a trusted proxy that says https: the wss: URL", () => {
    using app = services(parseConfig({ TRUST_PROXY: "1" }));
    const answer = refused(
      decide(app, "http://localhost/echo", { "x-forwarded-proto": "https" }),
    );
    assert.match(answer.body, /wss:\/\/localhost\/echo/);
  });
  await t.step(
    "a plain GET with the per-IP cap full: the 429 an upgrade would get",
    () => {
      using app = services(parseConfig({ MAX_CONNECTIONS_PER_IP: "1" }));
      const held = admitted(decide(app, "http://localhost/echo"));
      assert.equal(
        refused(decide(app, "http://localhost/echo", {})).status,
        429,
      );
      assert.equal(refused(decide(app, "http://localhost/echo")).status, 429);
      held.lease.release();
    },
  );
  await t.step("a bad option: 400, before the handshake is looked at", () => {
    using app = services();
    const answer = refused(decide(app, "http://localhost/echo?delay=soon", {}));
    assert.equal(answer.status, 400);
    assert.equal(answer.reason, "bad_options");
  });
  await t.step("version 8: 426 naming version 13", () => {
    using app = services();
    const answer = refused(
      decide(app, "http://localhost/echo", {
        ...UPGRADE,
        "sec-websocket-version": "8",
      }),
    );
    assert.equal(answer.status, 426);
    assert.equal(answer.headers["Sec-WebSocket-Version"], "13");
  });
  await t.step("a peer Deno reports as gone (0.0.0.0): 400 client_gone", () => {
    using app = services();
    const answer = refused(
      decide(app, "http://localhost/echo", UPGRADE, {
        peer: { transport: "tcp", hostname: "0.0.0.0", port: 0 },
      }),
    );
    assert.equal(answer.reason, "client_gone");
    assert.equal(app.registry.total, 0);
  });
  await t.step("an origin ALLOWED_ORIGINS leaves out: 403", () => {
    using app = services(
      parseConfig({ ALLOWED_ORIGINS: "https://a.example" }),
    );
    const answer = refused(
      decide(app, "http://localhost/echo", {
        ...UPGRADE,
        origin: "https://b.example",
      }),
    );
    assert.equal(answer.status, 403);
  });
});

Deno.test("an endpoint extends decideUpgrade() with its own check and prelude", async (t) => {
  await t.step("its check refuses before admission", () => {
    using app = services();
    const answer = refused(
      decide(app, "http://localhost/room/x", UPGRADE, {
        endpoint: {
          path: "/room/x",
          check: () => refusal("bad_handshake", { detail: "No such room" }),
        },
      }),
    );
    assert.equal(answer.body, "No such room\n");
    assert.equal(app.registry.total, 0);
  });
  await t.step("its prelude is sent first, with the connection id", () => {
    using app = services();
    const decision = admitted(
      decide(app, "http://localhost/inspect", UPGRADE, {
        endpoint: {
          path: "/inspect",
          closeCommands: true,
          prelude: (facts, id) => [`${id} ${facts.client.ip}`],
        },
      }),
    );
    assert.deepEqual(decision.prelude, [`${decision.id} 203.0.113.9`]);
    assert.equal(decision.closeCommands, true);
    decision.lease.release();
  });
});

Deno.test("an endpoint with query options of its own reads them in place of the echo's", async (t) => {
  const self: UpgradeEndpoint<{ self: boolean }> = {
    path: "/room/x",
    options: (params) =>
      params.has("delay")
        ? refusal("bad_options", { detail: 'Invalid option "delay"' })
        : { own: { self: params.get("self") === "1" } },
    check: () => refusal("room_full", { room: "x", max: 0 }),
  };
  const decideOwn = (
    app: ReturnType<typeof services>,
    target: string,
    headers: Record<string, string>,
    endpoint: UpgradeEndpoint<{ self: boolean }>,
  ) =>
    decideUpgrade(app, {
      endpoint,
      request: new Request(target, { headers }),
      peer: PEER,
    });
  await t.step(
    "what they read reaches the admitted upgrade, with the plain echo",
    () => {
      using app = services();
      const decision = decideOwn(
        app,
        "http://localhost/room/x?self=1&greeting=1",
        UPGRADE,
        {
          path: "/room/x",
          options: self.options!,
        },
      );
      assert.ok("lease" in decision, "admitted");
      assert.deepEqual(decision.own, { self: true });
      assert.equal(
        decision.echo.greeting,
        false,
        "greeting= is not the room's",
      );
      decision.lease.release();
    },
  );
  await t.step("a bad one is refused with 400 before the handshake", () => {
    using app = services();
    const answer = refused(
      decideOwn(app, "http://localhost/room/x?delay=5", {}, self),
    );
    assert.equal(answer.status, 400);
    assert.equal(app.registry.total, 0);
  });
  await t.step("a plain GET is told what its check would answer", () => {
    using app = services();
    const answer = refused(decideOwn(app, "http://localhost/room/x", {}, self));
    assert.equal(answer.reason, "room_full");
  });
});
