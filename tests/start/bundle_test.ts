import assert from "node:assert/strict";
import {
  BUNDLES,
  bundleStamp,
  ensureBundles,
  staleBundles,
} from "../../deploy/bundle.ts";
import { ROOT, startTaskArgs } from "../_server.ts";

Deno.test("production runs the bundle, rebuilt whenever a source changes", async (t) => {
  await t.step(
    "deno task start runs dist/main.js after deno task bundle",
    async () => {
      const denoJson = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
      assert.match(denoJson.tasks.start, /deno task -q bundle && deno run /);
      assert.equal((await startTaskArgs()).at(-1), "dist/main.js");
    },
  );

  await t.step(
    "after a build, every bundle starts with the inputs' stamp",
    async () => {
      await ensureBundles();
      assert.deepEqual(await staleBundles(), []);
      const stamp = await bundleStamp();
      for (const { output } of BUNDLES) {
        const text = await Deno.readTextFile(`${ROOT}/${output}`);
        assert.equal(text.slice(0, text.indexOf("\n")), stamp, output);
      }
    },
  );

  await t.step(
    "the stamp covers the sources: one changed byte changes it",
    async () => {
      const before = await bundleStamp();
      assert.match(before, /inputs sha256:[0-9a-f]{64}; do not edit\.$/);
      const probe = `${ROOT}/lib/_bundle_probe.ts`;
      try {
        await Deno.writeTextFile(probe, "export {};\n");
        const after = await bundleStamp();
        assert.notEqual(after, before);
        assert.deepEqual(await staleBundles(), BUNDLES.map((b) => b.output));
      } finally {
        await Deno.remove(probe);
      }
      assert.deepEqual(await staleBundles(), []);
    },
  );

  await t.step(
    "deno task bundle --check says which bundle is stale, and exits 1",
    async () => {
      const output = `${ROOT}/dist/serve.js`;
      const fresh = await Deno.readTextFile(output);
      try {
        await Deno.writeTextFile(output, `// stale\n${fresh}`);
        const check = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-q", "-P=bundle", "deploy/bundle.ts", "--check"],
          cwd: ROOT,
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(check.code, 1);
        assert.equal(
          new TextDecoder().decode(check.stderr),
          "ws-echo: dist/serve.js is missing or older than the sources: run deno task bundle\n",
        );
      } finally {
        await Deno.writeTextFile(output, fresh);
      }
    },
  );
});
