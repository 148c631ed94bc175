/**
 * What a fresh checkout promises a newcomer: the deploy numbers in
 * docs/operations.md are the deploy files' numbers, the classic tutorial fixture is the page as readers
 * have it, and the TLS files docs/operations.md makes stay out of git.
 *
 * @module
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, root));

/** The one number `pattern` captures in `text`, or a failure naming it. */
function number(text: string, pattern: RegExp, where: string): number {
  const match = pattern.exec(text);
  assert.ok(match?.[1], `${where} has ${pattern}`);
  return Number(match[1]);
}

Deno.test("docs/operations.md's deploy numbers are the deploy files' numbers", async (t) => {
  const operations = await read("docs/operations.md");
  const unit = await read("deploy/ws-echo.service");
  const compose = await read("deploy/compose.yaml");
  await t.step("systemd's TimeoutStopSec", () => {
    assert.equal(
      number(
        operations,
        /waiting\s+(\d+)\s+s\s+\(`TimeoutStopSec=`/,
        "docs/operations.md",
      ),
      number(unit, /^TimeoutStopSec=(\d+)$/m, "ws-echo.service"),
    );
  });
  await t.step("systemd's LimitNOFILE", () => {
    assert.equal(
      number(
        operations,
        /allows\s+(\d+)\s+descriptors\s+\(`LimitNOFILE=`\)/,
        "docs/operations.md",
      ),
      number(unit, /^LimitNOFILE=(\d+)$/m, "ws-echo.service"),
    );
  });
  await t.step("compose's stop_grace_period", () => {
    assert.equal(
      number(operations, /compose\s+sets\s+(\d+)\s+s/, "docs/operations.md"),
      number(compose, /^\s*stop_grace_period: (\d+)s$/m, "compose.yaml"),
    );
  });
  await t.step("docker's open-file limit and compose's", () => {
    assert.equal(
      number(operations, /--ulimit nofile=(\d+):\d+/, "docs/operations.md"),
      number(compose, /nofile:\s*\n\s*soft: (\d+)/, "compose.yaml"),
    );
  });
});

Deno.test("the classic tutorial fixture is the page as the tutorial prints it", async () => {
  const page = await read("tests/fixtures/classic_tutorial.html");
  assert.match(page, /new WebSocket\("ws:\/\/localhost:9998\/echo"\)/);
  assert.doesNotMatch(page, /__PORT__/);
});

Deno.test("git ignores the TLS files docs/operations.md's steps make in the checkout", async () => {
  const ignored = await new Deno.Command("git", {
    args: ["check-ignore", "--no-index", "cert.pem", "key.pem"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const lines = new TextDecoder().decode(ignored.stdout).trim().split("\n");
  assert.deepEqual(lines, ["cert.pem", "key.pem"]);
});
