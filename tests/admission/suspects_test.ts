/**
 * How the overload watch's strikes become refusals (`suspects.ts`), without
 * a network.
 */
import assert from "node:assert/strict";
import { SuspectList } from "../../lib/admission/suspects.ts";

Deno.test("SuspectList: an address is refused only when struck at incidents in a row", async (t) => {
  await t.step("two in a row: refused for 300 s, then doubled", () => {
    const suspects = new SuspectList();
    suspects.strike(["127.0.0.2"], 0);
    const [listed] = suspects.strike(["127.0.0.2"], 1000);
    assert.equal(listed!.refusedForSeconds, 300);
    assert.equal(suspects.refusedFor("127.0.0.2", 1000), 300);
    assert.equal(suspects.refusedFor("127.0.0.2", 301_001), 0);
    suspects.strike(["127.0.0.2"], 400_000);
    const [again] = suspects.strike(["127.0.0.2"], 401_000);
    assert.equal(again!.refusedForSeconds, 600);
  });
  await t.step("an incident without it in between starts again", () => {
    const suspects = new SuspectList();
    suspects.strike(["127.0.0.3"], 0);
    suspects.strike(["127.0.0.2"], 1000);
    const [struck] = suspects.strike(["127.0.0.3"], 2000);
    assert.equal(struck!.refusedForSeconds, 0);
    assert.equal(suspects.refusedFor("127.0.0.3", 2000), 0);
  });
});
