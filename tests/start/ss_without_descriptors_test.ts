/**
 * When the process is out of descriptors (reset upgrades Deno leaked hold
 * them, issue #20), the overload watch still reads the kernel's count and
 * aborts: `ss` runs on descriptors held for it (`descriptor_reserve.ts`),
 * checked in a child under `prlimit`. Where the count is missing all the
 * same for want of descriptors, nobody is struck on timing alone
 * (stranger F6: a newcomer was).
 *
 * @module
 */
import assert from "node:assert/strict";
import { ROOT } from "../_server.ts";
import { hasSs } from "./_overload.ts";
import { findSuspects } from "../../lib/start/incident_suspects.ts";
import { SuspectList } from "../../lib/admission/suspects.ts";
import type { Activity } from "../../lib/admission/slots.ts";
import type { Services } from "../../lib/services.ts";

const FIXTURE = "tests/fixtures/ss_without_descriptors.ts";

Deno.test({
  name:
    "out of descriptors, ss runs on the ones held for it, and not without them",
  ignore: !hasSs(),
  fn: async () => {
    const { code, stdout, stderr } = await new Deno.Command("prlimit", {
      args: ["--nofile=64:64", Deno.execPath(), "run", "-A", FIXTURE],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    const out = new TextDecoder().decode(stdout);
    const said = `${out} ${new TextDecoder().decode(stderr)}`;
    assert.equal(code, 0, said);
    const found = JSON.parse(out.trim().split("\n").at(-1)!);
    assert.ok(found.taken > 0, said);
    assert.match(found.bare.unavailable ?? "", /Too many open files/, said);
    assert.deepEqual(found.lentSync, { peers: 1 }, said);
    assert.deepEqual(found.lentAwaited, { peers: 1 }, said);
    assert.deepEqual(found.lentAgain, { peers: 1 }, said);
    assert.equal(found.abort.unavailable, undefined, said);
    // What the children's pipes took is held again.
    assert.equal(found.held, 8, said);
  },
});

/** One silent connection, there since before the incident's last sample. */
function silentServices(suspects: SuspectList) {
  const startedAt = Date.now() - 10_000;
  const activity: Activity = {
    opened: true,
    startedAt,
    messages: 0,
    bytesIn: 0,
    peer: undefined,
    sent: 0,
    lastMessageAt: startedAt,
    closingSince: undefined,
  };
  return {
    registry: {
      connections: () => [[{ activity: () => activity }, "127.0.0.9"]],
    },
    suspects,
    config: { maxMessageBytes: 1 << 20 },
  } as unknown as Pick<Services, "registry" | "suspects" | "config">;
}

Deno.test("findSuspects() without the kernel's count", async (t) => {
  const now = performance.now();
  const moments = {
    settledAt: now,
    calmSince: -Infinity,
    troubleSince: now - 1000,
  };
  await t.step("judges by timing where ss cannot run here", () => {
    const found = findSuspects(silentServices(new SuspectList()), moments, {
      unavailable: "ss: Failed to spawn 'ss': No such file or directory",
    });
    assert.deepEqual(found.struck, ["127.0.0.9"]);
  });
  await t.step("strikes nobody when it failed for want of descriptors", () => {
    const found = findSuspects(silentServices(new SuspectList()), moments, {
      unavailable:
        "ss: Failed to spawn '/usr/bin/ss': Too many open files (os error 24)",
    });
    assert.deepEqual(found.struck, []);
  });
});
