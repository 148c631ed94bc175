/**
 * The page serves uPlot from static/vendor/uplot/ (the service reads only
 * static/). These tests keep that copy byte-for-byte equal to the npm package
 * pinned in deno.json, so upgrading means: change the pin, copy the files.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { ROOT } from "../_server.ts";

const require = createRequire(import.meta.url);
const VENDORED = `${ROOT}/static/vendor/uplot`;
const FILES = {
  "uPlot.iife.min.js": "uplot/dist/uPlot.iife.min.js",
  "uPlot.min.css": "uplot/dist/uPlot.min.css",
  "LICENSE": "uplot/LICENSE",
};

Deno.test("static/vendor/uplot equals the npm package pinned in deno.json", async (t) => {
  const denoJson = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  const pinned = /^npm:uplot@(\d+\.\d+\.\d+)$/.exec(denoJson.imports.uplot);
  assert.ok(
    pinned,
    `uplot is pinned to one version: ${denoJson.imports.uplot}`,
  );
  const version = pinned[1]!;

  await t.step("the package resolved is the pinned version", async () => {
    const manifest = JSON.parse(
      await Deno.readTextFile(require.resolve("uplot/package.json")),
    );
    assert.equal(manifest.version, version);
  });

  for (const [name, specifier] of Object.entries(FILES)) {
    await t.step(`${name} is the package's file`, async () => {
      const vendored = await Deno.readFile(`${VENDORED}/${name}`);
      const original = await Deno.readFile(require.resolve(specifier));
      assert.ok(
        vendored.length === original.length &&
          vendored.every((byte, i) => byte === original[i]),
        `static/vendor/uplot/${name} differs from uplot@${version}: copy ${
          require.resolve(specifier)
        } over it`,
      );
    });
  }

  await t.step("the script names the same version", async () => {
    const head = (await Deno.readTextFile(`${VENDORED}/uPlot.iife.min.js`))
      .slice(0, 100);
    assert.ok(head.includes(`(v${version})`), head);
  });
});
