/**
 * The folders are the layers: each module imports only from its own layer or
 * the ones below it, and no chain of imports comes back to where it started.
 * The order is written once, in {@link LAYERS}; a new file must find its
 * place there.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ROOT } from "./_server.ts";

/**
 * The layers from the bottom up: a module may import from its own layer and
 * the ones before it. An entry ending in `/` is a folder; any other entry is
 * a file.
 */
const LAYERS: readonly (readonly string[])[] = [
  // RFC 6455 and UTF-8, no I/O and nothing of the service's.
  ["lib/protocol/"],
  // What every layer shares: settings, log, ids, the catalogues, counters.
  [
    "lib/setting_parsers.ts",
    "lib/settings.ts",
    "lib/config.ts",
    "lib/log.ts",
    "lib/ids.ts",
    "lib/os_errors.ts",
    "lib/refusals.ts",
    "lib/limits.ts",
    "lib/overload_pressure.ts",
    "lib/metrics.ts",
    "lib/metric_catalogue.ts",
    "lib/telemetry.ts",
    "lib/core_timer.ts",
    "lib/lazy.ts",
  ],
  ["lib/admission/"],
  ["lib/connection/"],
  // Rooms: a member is a connection whose messages go to the room.
  ["lib/rooms/"],
  ["lib/http/"],
  // The app's shared state and shape, which start/ serves and routes/ fills.
  ["lib/services.ts"],
  ["lib/start/"],
  ["routes/"],
  ["main.ts", "serve.ts"],
];

function layerOf(path: string): number {
  return LAYERS.findIndex((layer) =>
    layer.some((entry) =>
      entry.endsWith("/") ? path.startsWith(entry) : path === entry
    )
  );
}

/** Every module of the service, as paths relative to the root. */
async function serviceModules(): Promise<string[]> {
  const found: string[] = ["main.ts", "serve.ts"];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(`${ROOT}/${dir}`)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (/\.(ts|js)$/.test(entry.name)) found.push(path);
    }
  };
  await walk("lib");
  await walk("routes");
  return found.sort();
}

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\b[^"';]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|(?:^|\n)\s*import\s*["']([^"']+)["']/g;

/** The modules of the service that `path` imports (statically or not). */
async function importsOf(path: string): Promise<string[]> {
  const text = await Deno.readTextFile(`${ROOT}/${path}`);
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(
    /^\s*\/\/.*$/gm,
    "",
  );
  const found: string[] = [];
  for (const match of code.matchAll(IMPORT)) {
    const specifier = match[1] ?? match[2] ?? match[3]!;
    if (!specifier.startsWith(".")) continue;
    const url = new URL(specifier, `file:///${path}`);
    found.push(url.pathname.slice(1));
  }
  return found;
}

Deno.test("imports point down the layers and never in a circle", async (t) => {
  const modules = await serviceModules();
  const graph = new Map<string, string[]>();
  for (const path of modules) graph.set(path, await importsOf(path));

  await t.step("every module has a layer", () => {
    const without = modules.filter((path) => layerOf(path) === -1);
    assert.deepEqual(
      without,
      [],
      "add these to LAYERS in tests/layers_test.ts",
    );
  });

  await t.step("no module imports from a layer above its own", () => {
    const upward: string[] = [];
    for (const [path, imports] of graph) {
      for (const imported of imports) {
        if (layerOf(imported) > layerOf(path)) {
          upward.push(`${path} -> ${imported}`);
        }
      }
    }
    assert.deepEqual(upward, []);
  });

  await t.step("no chain of imports comes back to its start", () => {
    const cycles: string[] = [];
    const done = new Set<string>();
    const visit = (path: string, trail: string[]) => {
      const seen = trail.indexOf(path);
      if (seen !== -1) {
        cycles.push([...trail.slice(seen), path].join(" -> "));
        return;
      }
      if (done.has(path)) return;
      for (const imported of graph.get(path) ?? []) {
        visit(imported, [...trail, path]);
      }
      done.add(path);
    };
    for (const path of modules) visit(path, []);
    assert.deepEqual(cycles, []);
  });

  await t.step("the check sees imports: routes/app.ts imports lib/", () => {
    assert.ok(
      graph.get("routes/app.ts")?.includes("lib/config.ts"),
      "the import parser found routes/app.ts's imports",
    );
  });
});
