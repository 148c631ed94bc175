import assert from "node:assert/strict";
import {
  clientIp,
  clientKey,
  describeIpSource,
  isDenoDeploy,
} from "../../lib/admission/client_ip.ts";
import { createApp } from "../../routes/app.ts";
import { parseConfig } from "../../lib/config.ts";

const PEER = "10.0.0.9";

function forwarded(...lines: string[]): Headers {
  const headers = new Headers();
  for (const line of lines) headers.append("x-forwarded-for", line);
  return headers;
}

Deno.test("clientIp() with 0 trusted proxies is the socket's address", async (t) => {
  await t.step("X-Forwarded-For is ignored", () => {
    assert.equal(clientIp(PEER, forwarded("203.0.113.7"), 0), PEER);
  });
  await t.step("a missing socket address is unknown", () => {
    assert.equal(clientIp(undefined, new Headers(), 0), "unknown");
  });
  await t.step(
    "the unspecified address Deno gives a reset client is unknown",
    () => {
      for (const madeUp of ["0.0.0.0", "::", "[::]:0", "0:0:0:0:0:0:0:0"]) {
        assert.equal(clientIp(madeUp, new Headers(), 0), "unknown", madeUp);
      }
      // Behind a proxy the entry it appended still names the client.
      const headers = new Headers({ "x-forwarded-for": "203.0.113.7" });
      assert.equal(clientIp("0.0.0.0", headers, 1), "203.0.113.7");
    },
  );
  await t.step("IPv4-mapped IPv6 becomes IPv4", () => {
    assert.equal(
      clientIp("::ffff:203.0.113.7", new Headers(), 0),
      "203.0.113.7",
    );
  });
  await t.step("IPv6 is written the short way", () => {
    assert.equal(
      clientIp("2001:0DB8:0:0:0:0:0:0001", new Headers(), 0),
      "2001:db8::1",
    );
  });
  await t.step("an address that does not parse is kept as is", () => {
    assert.equal(clientIp("peer.local", new Headers(), 0), "peer.local");
  });
});

Deno.test("clientIp() with 1 trusted proxy takes the right-most X-Forwarded-For entry", async (t) => {
  await t.step("40 forged left entries all map to one client", () => {
    const seen = new Set<string>();
    for (let n = 1; n <= 40; n++) {
      const headers = forwarded(`198.51.100.${n}, 127.0.0.1`);
      seen.add(clientIp(PEER, headers, 1));
    }
    assert.deepEqual([...seen], ["127.0.0.1"]);
  });
  await t.step("several header lines count as one list", () => {
    const headers = forwarded("198.51.100.1", "198.51.100.2, 203.0.113.7");
    assert.equal(
      headers.get("x-forwarded-for"),
      "198.51.100.1, 198.51.100.2, 203.0.113.7",
    );
    assert.equal(clientIp(PEER, headers, 1), "203.0.113.7");
  });
  await t.step("no header is the socket's address", () => {
    assert.equal(clientIp(PEER, new Headers(), 1), PEER);
  });
  await t.step("empty entries are skipped", () => {
    assert.equal(clientIp(PEER, forwarded("203.0.113.7, ,"), 1), "203.0.113.7");
    assert.equal(clientIp(PEER, forwarded(" , "), 1), PEER);
  });
});

Deno.test("clientIp() with N trusted proxies takes the N-th entry from the right", async (t) => {
  const headers = forwarded("198.51.100.1, 203.0.113.7, 10.0.0.2");
  await t.step("N = 2 skips the inner proxy's entry", () => {
    assert.equal(clientIp(PEER, headers, 2), "203.0.113.7");
  });
  await t.step("N = 3 reaches the left-most entry", () => {
    assert.equal(clientIp(PEER, headers, 3), "198.51.100.1");
  });
  await t.step("fewer entries than N falls back to the left-most", () => {
    assert.equal(clientIp(PEER, forwarded("203.0.113.7"), 2), "203.0.113.7");
    assert.equal(clientIp(PEER, headers, 5), "198.51.100.1");
  });
  await t.step("0 is the socket's address, whatever the header says", () => {
    assert.equal(clientIp(PEER, headers, 0), PEER);
  });
  await t.step("a count that is not an integer 0 or more throws", () => {
    for (const bad of [-1, 1.5, NaN, Infinity]) {
      assert.throws(
        () => clientIp(PEER, headers, bad),
        RangeError,
        `Invalid trustedProxies "${bad}": expected an integer 0 or more`,
      );
    }
  });
});

Deno.test("clientIp() falls back to the socket's address when the chosen entry is not an IP", async (t) => {
  const garbage = [
    "unknown",
    "evil.example",
    "203.0.113",
    "203.0.113.256",
    "203.0.113.07",
    "203.0.113.7:port",
    "203.0.113.7:123456",
    "2001:db8::1::2",
    "2001:db8:0:0:0:0:0:0:1",
    "12345::1",
    "[203.0.113.7]",
    "[2001:db8::1",
    "[2001:db8::1]x",
    "fe80::1%",
    "<script>",
  ];
  for (const entry of garbage) {
    await t.step(JSON.stringify(entry), () => {
      assert.equal(
        clientIp(PEER, forwarded(`198.51.100.1, ${entry}`), 1),
        PEER,
      );
    });
  }
  await t.step("only the chosen entry is checked", () => {
    assert.equal(
      clientIp(PEER, forwarded("garbage, 203.0.113.7"), 1),
      "203.0.113.7",
    );
  });
});

Deno.test("clientIp() normalizes ports, brackets, IPv4-mapped and zone ids", async (t) => {
  const cases: [string, string][] = [
    ["203.0.113.7:5000", "203.0.113.7"],
    ["[2001:db8::1]:1234", "2001:db8::1"],
    ["[2001:db8::1]", "2001:db8::1"],
    ["2001:DB8:0000::0001", "2001:db8::1"],
    ["::ffff:203.0.113.7", "203.0.113.7"],
    ["[::ffff:203.0.113.7]:443", "203.0.113.7"],
    ["::FFFF:cb00:7107", "203.0.113.7"],
    ["fe80::1%eth0", "fe80::1"],
    ["::1", "::1"],
    ["::", "::"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:6"],
    ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
  ];
  for (const [entry, expected] of cases) {
    await t.step(`${entry} -> ${expected}`, () => {
      assert.equal(clientIp(PEER, forwarded(entry), 1), expected);
    });
  }
});

Deno.test("clientKey() groups IPv6 by prefix and keeps IPv4 as is", async (t) => {
  await t.step("IPv4 is its own key", () => {
    assert.equal(clientKey("203.0.113.7"), "203.0.113.7");
  });
  await t.step("IPv4-mapped IPv6 is its IPv4 address", () => {
    assert.equal(clientKey("::ffff:203.0.113.7"), "203.0.113.7");
  });
  await t.step("40 addresses of one /64 are one key", () => {
    const keys = new Set<string>();
    for (let n = 1; n <= 40; n++) {
      keys.add(clientKey(`2001:db8:1:2::${n.toString(16)}`));
    }
    assert.deepEqual([...keys], ["2001:db8:1:2::/64"]);
  });
  await t.step("the next /64 is another key", () => {
    assert.equal(clientKey("2001:db8:1:3::1"), "2001:db8:1:3::/64");
  });
  await t.step("/48 groups the whole site", () => {
    assert.equal(clientKey("2001:db8:1:2::1", 48), "2001:db8:1::/48");
    assert.equal(clientKey("2001:db8:1:ffff::1", 48), "2001:db8:1::/48");
  });
  await t.step("a prefix inside a group masks its low bits", () => {
    assert.equal(clientKey("2001:db8:1:2ff::1", 56), "2001:db8:1:200::/56");
  });
  await t.step("/128 is one key per address", () => {
    assert.equal(clientKey("2001:db8:1:2::1", 128), "2001:db8:1:2::1");
    assert.equal(clientKey("2001:db8:1:2::2", 128), "2001:db8:1:2::2");
  });
  await t.step("zone ids are ignored", () => {
    assert.equal(clientKey("fe80::1%eth0"), "fe80::/64");
    assert.equal(clientKey("fe80::1%eth0", 128), "fe80::1");
  });
  await t.step("text that is not an address is its own key", () => {
    assert.equal(clientKey("unknown"), "unknown");
    assert.equal(clientKey("not:an:address"), "not:an:address");
  });
  await t.step("a prefix outside 1-128 throws", () => {
    for (const bad of [0, 129, 64.5]) {
      assert.throws(
        () => clientKey("2001:db8::1", bad),
        RangeError,
        `Invalid ipv6PrefixBits "${bad}": expected an integer 1-128`,
      );
    }
  });
});

Deno.test("describeIpSource() names where the address comes from", () => {
  assert.equal(describeIpSource({ trustedProxies: 0 }), "tcp peer");
  assert.equal(
    describeIpSource({ trustedProxies: 1 }),
    "x-forwarded-for (1 trusted proxy)",
  );
  assert.equal(
    describeIpSource({ trustedProxies: 2 }),
    "x-forwarded-for (2 trusted proxies)",
  );
  assert.equal(
    describeIpSource({ trustedProxies: 0, denoDeploy: true }),
    "deno deploy",
  );
  assert.equal(
    describeIpSource({ trustedProxies: 1, denoDeploy: true }),
    "x-forwarded-for (1 trusted proxy in front of deno deploy)",
  );
});

Deno.test("isDenoDeploy() reads Deploy's own variables", async (t) => {
  const on = (env: Record<string, string>) => isDenoDeploy((name) => env[name]);
  await t.step("DENO_DEPLOY=true (Deno Deploy)", () => {
    assert.equal(on({ DENO_DEPLOY: "true" }), true);
  });
  await t.step("DENO_REGION and DENO_DEPLOYMENT_ID (Deploy Classic)", () => {
    assert.equal(
      on({ DENO_REGION: "gcp-europe-west3", DENO_DEPLOYMENT_ID: "x" }),
      true,
    );
  });
  await t.step(
    "DENO_DEPLOYMENT_ID alone (a Fresh app in Docker) is not Deploy",
    () => {
      assert.equal(on({ DENO_DEPLOYMENT_ID: "abc123" }), false);
    },
  );
  await t.step("nothing set is not Deploy", () => {
    assert.equal(on({}), false);
  });
});

Deno.test("a request whose client reset the connection is logged as ip=unknown, not Deno's made-up 0.0.0.0", async () => {
  const records: Record<string, unknown>[] = [];
  const { fetch, services } = createApp(parseConfig({}), {
    log: (record) => records.push(record),
  });
  try {
    // What Deno hands the handler once it could not read the peer.
    const gone = {
      remoteAddr: { transport: "tcp", hostname: "0.0.0.0", port: 0 },
    } as Deno.ServeHandlerInfo<Deno.NetAddr>;
    const response = await fetch(new Request("http://127.0.0.1/echo"), gone);
    assert.equal(response.status, 426);
    await response.body?.cancel();
    const refused = records.find((record) => record.event === "ws_refused");
    assert.ok(refused, JSON.stringify(records));
    assert.equal(refused.ip, "unknown");
  } finally {
    services.suspects.dispose();
    services.memory.dispose();
    services.registry.dispose();
    services.sweep.dispose();
    services.refusalLog.dispose();
  }
});
