import assert from "node:assert/strict";
import {
  applyFdLimit,
  connectionCap,
  fdReserve,
  parseOpenFileLimit,
  readOpenFileLimit,
} from "../../lib/start/fd_limit.ts";
import { DEFAULT_CONFIG } from "../../lib/config.ts";

const LIMITS =
  `Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max stack size            8388608              unlimited            bytes     
Max processes             96364                96364                processes 
Max open files            1024                 524288               files     
Max locked memory         8388608              8388608              bytes     
`;

Deno.test("parseOpenFileLimit() reads the Max open files line", async (t) => {
  await t.step("soft and hard", () => {
    assert.deepEqual(parseOpenFileLimit(LIMITS), { soft: 1024, hard: 524288 });
  });
  await t.step("unlimited is Infinity", () => {
    assert.deepEqual(
      parseOpenFileLimit(
        "Max open files            unlimited            unlimited            files     \n",
      ),
      { soft: Infinity, hard: Infinity },
    );
  });
  await t.step("a missing or malformed line is undefined", () => {
    assert.equal(parseOpenFileLimit(""), undefined);
    assert.equal(
      parseOpenFileLimit(LIMITS.replace("Max open files", "Max files")),
      undefined,
    );
    assert.equal(
      parseOpenFileLimit("Max open files   lots   1024   files\n"),
      undefined,
    );
  });
});

Deno.test("readOpenFileLimit() is unknown unless a Linux limits file is readable", async (t) => {
  await t.step("not Linux", () => {
    assert.equal(
      readOpenFileLimit({ os: "darwin", read: () => LIMITS }),
      "unknown",
    );
  });
  await t.step("read throws (no permission)", () => {
    const read = () => {
      throw new Deno.errors.NotCapable("Requires all access");
    };
    assert.equal(readOpenFileLimit({ os: "linux", read }), "unknown");
  });
  await t.step("read gives nothing (permission not granted)", () => {
    assert.equal(
      readOpenFileLimit({ os: "linux", read: () => undefined }),
      "unknown",
    );
  });
  await t.step("unparsable text", () => {
    assert.equal(
      readOpenFileLimit({ os: "linux", read: () => "nothing" }),
      "unknown",
    );
  });
  await t.step("parsed", () => {
    assert.deepEqual(readOpenFileLimit({ os: "linux", read: () => LIMITS }), {
      soft: 1024,
      hard: 524288,
    });
  });
  if (Deno.build.os === "linux") {
    await t.step("this process (tests run with --allow-all)", () => {
      const limit = readOpenFileLimit();
      assert.notEqual(limit, "unknown");
      if (limit !== "unknown") assert.ok(limit.soft > 0);
    });
  }
});

Deno.test("connectionCap() keeps max(64, 10%) of the limit for everything else, and the base plus half the cap for refusals", async (t) => {
  await t.step("reserve", () => {
    assert.equal(fdReserve(128), 64);
    assert.equal(fdReserve(640), 64);
    assert.equal(fdReserve(1024), 103);
    assert.equal(fdReserve(65536), 6554);
  });
  await t.step("ulimit -n 1024 lowers 10000 to 656, with one line", () => {
    assert.deepEqual(connectionCap({ soft: 1024, hard: 1024 }, 10_000), {
      maxConnections: 656,
      warning:
        "ws-echo: MAX_CONNECTIONS lowered from 10000 to 656: the open-file limit is 1024 (raise it with ulimit -n or LimitNOFILE=)",
    });
  });
  await t.step("128 gives 58", () => {
    assert.equal(
      connectionCap({ soft: 128, hard: 128 }, 10_000).maxConnections,
      58,
    );
  });
  await t.step("a cap already below the limit is unchanged", () => {
    assert.deepEqual(connectionCap({ soft: 20_000, hard: 20_000 }, 10_000), {
      maxConnections: 10_000,
    });
    assert.deepEqual(connectionCap({ soft: 1024, hard: 1024 }, 656), {
      maxConnections: 656,
    });
  });
  await t.step("unlimited and unknown change nothing", () => {
    assert.deepEqual(
      connectionCap({ soft: Infinity, hard: Infinity }, 10_000),
      {
        maxConnections: 10_000,
      },
    );
    assert.deepEqual(connectionCap("unknown", 0), { maxConnections: 0 });
  });
  await t.step("MAX_CONNECTIONS=0 (off) is capped too", () => {
    const cap = connectionCap({ soft: 1024, hard: 1024 }, 0);
    assert.equal(cap.maxConnections, 656);
    assert.match(cap.warning ?? "", /lowered from 0 \(off\) to 656/);
  });
  await t.step(
    "deno serve's workers share the limit, 24 more kept back for each beyond the first",
    () => {
      const cap = connectionCap({ soft: 1024, hard: 1024 }, 10_000, 2);
      // (1024 - 40 - 24) / 1.5 / 2, rounded down: refusals' room.
      assert.equal(cap.maxConnections, 320);
      assert.match(cap.warning ?? "", /to 320 per worker \(2 workers\):/);
      assert.deepEqual(connectionCap({ soft: 20_000, hard: 20_000 }, 500, 4), {
        maxConnections: 500,
      });
    },
  );
  await t.step("a limit below the reserve still allows one", () => {
    assert.equal(
      connectionCap({ soft: 32, hard: 32 }, 10_000).maxConnections,
      1,
    );
  });
});

Deno.test("applyFdLimit() returns a new config and leaves the old one alone", () => {
  const { config, warning } = applyFdLimit(DEFAULT_CONFIG, {
    soft: 256,
    hard: 256,
  });
  assert.equal(config.maxConnections, 144);
  assert.equal(DEFAULT_CONFIG.maxConnections, 10_000);
  assert.match(warning ?? "", /from 10000 to 144/);
  assert.equal(applyFdLimit(DEFAULT_CONFIG, "unknown").config, DEFAULT_CONFIG);
});
