/**
 * The README and docs/ link to each other: every relative link names a file
 * of the checkout, and every `#anchor` a heading of the file it points to
 * (GitHub's slugs), so text moved out of the README stays reachable from it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ROOT } from "./_server.ts";

const PAGES = [
  "README.md",
  "docs/page.md",
  "docs/operations.md",
  "docs/public-internet.md",
  "docs/limits.md",
  "docs/development.md",
  "docs/endpoints.md",
];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to `-`. */
function slug(heading: string): string {
  return heading.toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replaceAll(
    " ",
    "-",
  );
}

/** The anchors of a Markdown file's headings, outside fenced code. */
function anchors(markdown: string): Set<string> {
  const outside = markdown.replace(/^```[\s\S]*?^```/gm, "");
  return new Set(
    [...outside.matchAll(/^#{1,6} (.+)$/gm)].map((match) => slug(match[1]!)),
  );
}

Deno.test("the README's and docs/'s relative links reach a file and a heading", async (t) => {
  for (const page of PAGES) {
    await t.step(page, async () => {
      const pageUrl = new URL(page, `file://${ROOT}/`);
      const text = await Deno.readTextFile(pageUrl);
      const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)]
        .map((match) => match[1]!)
        .filter((link) => !/^[a-z]+:/.test(link));
      assert.ok(links.length > 0, `${page} links somewhere`);
      for (const link of links) {
        const [path, anchor] = link.split("#");
        const target = path ? new URL(path, pageUrl) : pageUrl;
        const body = await Deno.readTextFile(target).catch(() => null);
        if (body === null) {
          assert.ok(
            (await Deno.stat(target).catch(() => null)) !== null,
            `${page}: ${link} names no file`,
          );
          continue;
        }
        if (anchor) {
          assert.ok(
            anchors(body).has(anchor),
            `${page}: ${link} names no heading of ${path || page}`,
          );
        }
      }
    });
  }
});

Deno.test("the README stays a newcomer's page: under 500 lines, linking each of docs/", async () => {
  const readme = await Deno.readTextFile(`${ROOT}/README.md`);
  assert.ok(
    readme.split("\n").length < 500,
    `README.md has ${readme.split("\n").length} lines`,
  );
  for (const page of PAGES.slice(1)) {
    assert.ok(readme.includes(`](${page}`), `README links ${page}`);
  }
});

Deno.test("the README reads in a terminal: no line over 150 characters", async () => {
  // The settings used to be one table whose rows ran to 379 characters; now
  // they are grouped tables of short cells with notes under each, and every
  // other long detail belongs in docs/ (the Endpoints table's rows were 412
  // characters, newcomer6).
  const readme = await Deno.readTextFile(`${ROOT}/README.md`);
  const long = readme.split("\n").flatMap((line, index) =>
    line.length > 150 ? [`${index + 1}: ${line.length}`] : []
  );
  assert.deepEqual(long, []);
});

Deno.test("the code's references to docs/ name a page and a heading that exist", async () => {
  const files = ["main.ts", "serve.ts"];
  for (const folder of ["lib", "routes"]) {
    for await (const entry of walk(folder)) files.push(entry);
  }
  const missing: string[] = [];
  for (const file of files) {
    const text = await Deno.readTextFile(new URL(file, `file://${ROOT}/`));
    for (
      const [, page, anchor] of text.matchAll(
        /docs\/([\w-]+\.md)(?:#([\w-]+))?/g,
      )
    ) {
      const body = await Deno.readTextFile(
        new URL(`docs/${page}`, `file://${ROOT}/`),
      ).catch(() => null);
      if (body === null) missing.push(`${file}: docs/${page}`);
      else if (anchor && !anchors(body).has(anchor)) {
        missing.push(`${file}: docs/${page}#${anchor}`);
      }
    }
  }
  assert.deepEqual(missing, []);
});

/** The .ts files below `dir` (relative to ROOT), relative to ROOT. */
async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(new URL(dir, `file://${ROOT}/`))) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* walk(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}
