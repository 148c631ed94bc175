/**
 * Builds what production runs: `dist/main.js` (`deno run`) and
 * `dist/serve.js` (`deno serve`), each one file made by `deno bundle` from
 * `main.ts` and `serve.ts`. One file loads faster than the 60 modules it
 * holds, and tree-shaking keeps only the parts of zod/mini and Hono the
 * service uses (BENCHMARKS.md, issue #23). It is minified (414 -> 173 KB):
 * Deno reads, hashes and loads V8's code cache for all of it before the
 * first statement runs, and the smaller file took ~10 ms off the start
 * (BENCHMARKS.md, twelfth round). The watchdog thread runs from its
 * function's source text in the bundle (`rss_watchdog.ts`), so that text
 * must name nothing outside itself once minified: `--keep-names` would
 * break it, and the held-loop tests start the bundle's thread.
 *
 * A bundle can never be stale: its first line records a SHA-256 of its
 * inputs (every source file under `lib/` and `routes/`, the two entry
 * points, `deno.json`, `deno.lock`, this file with its bundler flags) and
 * the Deno version; `deno task start`
 * and `deno task serve` run this first and rebuild only when that line no
 * longer matches, the container image and Deno Deploy build at build time,
 * and the systemd unit refuses to start on a stale bundle (`--check`).
 * `dist/` is not committed.
 *
 * Usage: `deno task bundle [--check]`. Without `--check` it rebuilds what is
 * stale and says so on stderr; with it, it only says which bundle is stale
 * and exits 1.
 *
 * @module
 */

/** The project folder (a path ending in `/`). */
const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname);

/** Entry points and the bundles made from them, relative to the project. */
export const BUNDLES: ReadonlyArray<{ entry: string; output: string }> = [
  { entry: "main.ts", output: "dist/main.js" },
  { entry: "serve.ts", output: "dist/serve.js" },
];

/** The folders whose source files go into the bundles. */
const SOURCE_FOLDERS = ["lib", "routes"];

async function sourceFiles(): Promise<string[]> {
  const files = [
    "deno.json",
    "deno.lock",
    "deploy/bundle.ts",
    ...BUNDLES.map((b) => b.entry),
  ];
  for (const folder of SOURCE_FOLDERS) {
    const pending = [folder];
    while (pending.length > 0) {
      const dir = pending.pop()!;
      for await (const entry of Deno.readDir(`${ROOT}${dir}`)) {
        const path = `${dir}/${entry.name}`;
        if (entry.isDirectory) pending.push(path);
        else if (/\.(ts|js)$/.test(entry.name)) files.push(path);
      }
    }
  }
  return files.sort();
}

/**
 * The first line of a fresh bundle: the Deno version and a SHA-256 over the
 * name and content of every input file.
 *
 * @example
 * ```ts ignore
 * const line = await bundleStamp(); // "// deno bundle, Deno 2.9.6, inputs sha256:…"
 * ```
 */
export async function bundleStamp(): Promise<string> {
  const parts: Uint8Array[] = [];
  const encoder = new TextEncoder();
  for (const file of await sourceFiles()) {
    parts.push(encoder.encode(`\0${file}\0`));
    parts.push(await Deno.readFile(`${ROOT}${file}`));
  }
  const all = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  const digest = await crypto.subtle.digest("SHA-256", all);
  return `// Built by deploy/bundle.ts (deno bundle, Deno ${Deno.version.deno}) from inputs sha256:${
    Array.from(new Uint8Array(digest), (byte) =>
      byte.toString(16).padStart(2, "0")).join("")
  }; do not edit.`;
}

async function firstLine(path: string): Promise<string | undefined> {
  try {
    using file = await Deno.open(`${ROOT}${path}`);
    const buffer = new Uint8Array(512);
    const length = await file.read(buffer) ?? 0;
    return new TextDecoder().decode(buffer.subarray(0, length)).split("\n")[0];
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** The inputs' hash in a stamp; a newer Deno runs an older bundle fine. */
function inputsHash(stamp: string | undefined): string | undefined {
  return stamp?.match(/inputs (sha256:[0-9a-f]{64})/)?.[1];
}

/** The bundles whose first line does not match the inputs as they are now. */
export async function staleBundles(): Promise<string[]> {
  const hash = inputsHash(await bundleStamp());
  const stale: string[] = [];
  for (const { output } of BUNDLES) {
    if (inputsHash(await firstLine(output)) !== hash) stale.push(output);
  }
  return stale;
}

/**
 * Rebuilds every stale bundle (written to a temporary file and renamed, so a
 * process starting meanwhile reads the old one or the new one, never half).
 *
 * @returns The bundles rebuilt.
 * @throws {Error} With `deno bundle`'s output when it fails.
 */
export async function ensureBundles(): Promise<string[]> {
  const stale = await staleBundles();
  if (stale.length === 0) return [];
  const stamp = await bundleStamp();
  await Deno.mkdir(`${ROOT}dist`, { recursive: true });
  for (
    const { entry, output } of BUNDLES.filter((b) => stale.includes(b.output))
  ) {
    const temporary = `${ROOT}${output}.${Deno.pid}.tmp`;
    const result = await new Deno.Command(Deno.execPath(), {
      // The Redis client (CommonJS) is imported at run time, and only with
      // REDIS_URL: the bundler cannot inline its `require`s.
      args: [
        "bundle",
        "-q",
        "--platform=deno",
        "--external=redis",
        "--minify",
        "-o",
        temporary,
        entry,
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!result.success) {
      await Deno.remove(temporary).catch(() => {});
      throw new Error(
        `deno bundle ${entry} failed:\n${
          new TextDecoder().decode(result.stderr)
        }`,
      );
    }
    const code = await Deno.readTextFile(temporary);
    await Deno.writeTextFile(temporary, `${stamp}\n${code}`);
    await Deno.rename(temporary, `${ROOT}${output}`);
  }
  return stale;
}

if (import.meta.main) {
  if (Deno.args.includes("--check")) {
    const stale = await staleBundles();
    for (const output of stale) {
      console.error(
        `ws-echo: ${output} is missing or older than the sources: run deno task bundle`,
      );
    }
    Deno.exit(stale.length === 0 ? 0 : 1);
  }
  for (const output of await ensureBundles()) {
    console.error(`ws-echo: bundled ${output}`);
  }
}
