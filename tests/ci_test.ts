/**
 * `.ci/run` installs each package the tests need when that package is
 * missing, each on its own line; `.ci/run --missing` prints the list it would
 * install, which these tests read with stand-ins for the checks.
 *
 * @module
 */
import assert from "node:assert/strict";

const script = new URL("../.ci/run", import.meta.url);

/** What `.ci/run --missing` would install, with `fc-list` answering `fontFound`. */
async function missing(
  about: { fontFound: boolean; chromium: string; root?: string },
): Promise<string[]> {
  // An older script has no --missing and would run the whole suite instead.
  assert.match(await Deno.readTextFile(script), /--missing/);
  const bin = await Deno.makeTempDir({ prefix: "ws-echo-ci-" });
  try {
    await Deno.writeTextFile(
      `${bin}/fc-list`,
      `#!/bin/sh\nexit ${about.fontFound ? 0 : 1}\n`,
      { mode: 0o755 },
    );
    const { code, stdout, stderr } = await new Deno.Command("bash", {
      args: [script.pathname, "--missing"],
      env: {
        PATH: `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
        CHROMIUM_PATH: about.chromium,
        ...(about.root === undefined ? {} : { CI_RUN_ROOT: about.root }),
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const said = new TextDecoder().decode(stderr);
    assert.equal(code, 0, said);
    const out = new TextDecoder().decode(stdout);
    // Nothing missing: no empty line (newcomer8 read it as a failure), a
    // sentence on stderr instead.
    if (out === "") assert.match(said, /^nothing to install/);
    assert.notEqual(out, "\n", "an empty line");
    const lines = out.trim().split("\n");
    return lines.at(-1)!.split(" ").filter(Boolean);
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
}

Deno.test(".ci/run installs the CJK font whenever it is missing", async (t) => {
  await t.step("Chromium present, font missing: the font", async () => {
    const list = await missing({ fontFound: false, chromium: "/bin/sh" });
    assert.ok(list.includes("fonts-wqy-zenhei"), list.join(" "));
    assert.ok(!list.includes("chromium"), list.join(" "));
  });
  await t.step("font present: not the font", async () => {
    const list = await missing({ fontFound: true, chromium: "/bin/sh" });
    assert.ok(!list.includes("fonts-wqy-zenhei"), list.join(" "));
  });
  await t.step(
    "Chromium missing: Chromium, and the font only if missing",
    async () => {
      const list = await missing({
        fontFound: true,
        chromium: "/nonexistent/chromium",
      });
      assert.ok(list.includes("chromium"), list.join(" "));
      assert.ok(!list.includes("fonts-wqy-zenhei"), list.join(" "));
    },
  );
});

Deno.test(".ci/run lists nginx-light, redis-server and iproute2 when they are missing", async (t) => {
  const both = ["nginx-light", "redis-server", "iproute2"];
  await t.step(
    "none of /usr/sbin/nginx, /usr/bin/redis-server, /usr/bin/ss: all three",
    async () => {
      const root = await Deno.makeTempDir({ prefix: "ws-echo-ci-root-" });
      try {
        const list = await missing({
          fontFound: true,
          chromium: "/bin/sh",
          root,
        });
        assert.deepEqual(list.filter((name) => both.includes(name)), both);
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    },
  );
  await t.step("all present: none", async () => {
    const root = await Deno.makeTempDir({ prefix: "ws-echo-ci-root-" });
    try {
      for (
        const path of ["usr/sbin/nginx", "usr/bin/redis-server", "usr/bin/ss"]
      ) {
        await Deno.mkdir(`${root}/${path.slice(0, path.lastIndexOf("/"))}`, {
          recursive: true,
        });
        await Deno.writeTextFile(`${root}/${path}`, "#!/bin/sh\n", {
          mode: 0o755,
        });
      }
      const list = await missing({
        fontFound: true,
        chromium: "/bin/sh",
        root,
      });
      assert.deepEqual(list.filter((name) => both.includes(name)), []);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
});

Deno.test("the README names the CJK font next to Chromium", async () => {
  const readme = await Deno.readTextFile(
    new URL("../README.md", import.meta.url),
  );
  assert.match(readme, /fonts-wqy-zenhei/);
});

Deno.test(".ci/run --help says how to call it and runs nothing; an unknown argument exits 2", async (t) => {
  const run = async (arg: string) => {
    const { code, stdout, stderr } = await new Deno.Command("bash", {
      args: [script.pathname, arg],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return { code, stdout: decode(stdout), stderr: decode(stderr) };
  };
  await t.step("--help: usage, exit 0", async () => {
    const { code, stdout } = await run("--help");
    assert.equal(code, 0);
    assert.match(stdout, /^usage: \.ci\/run \[--missing\]/);
    assert.doesNotMatch(stdout, /deno \d/, "it must not go on to install");
  });
  await t.step("--bogus: named on stderr, exit 2", async () => {
    const { code, stderr } = await run("--bogus");
    assert.equal(code, 2);
    assert.equal(stderr, ".ci/run: unknown argument --bogus (try --help)\n");
  });
});
