/**
 * How the overload watch's strikes become refusals (`suspects.ts`), without
 * a network.
 */
import assert from "node:assert/strict";
import { SuspectList } from "../../lib/admission/suspects.ts";

Deno.test("SuspectList: an address is refused when struck twice without being vouched for in between", async (t) => {
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
  await t.step(
    "vouched for in between (seen exchanging messages): starts again",
    () => {
      const suspects = new SuspectList();
      suspects.strike(["127.0.0.3"], 0);
      suspects.vouch(["127.0.0.3"], 1000);
      suspects.strike(["127.0.0.2"], 1000);
      const [struck] = suspects.strike(["127.0.0.3"], 2000);
      assert.equal(struck!.refusedForSeconds, 0);
      assert.equal(suspects.refusedFor("127.0.0.3", 2000), 0);
    },
  );
  await t.step(
    "two addresses taking turns: each refused at its second strike",
    () => {
      const suspects = new SuspectList();
      suspects.strike(["127.0.3.3"], 0);
      suspects.strike(["127.0.3.4"], 1500);
      const [third] = suspects.strike(["127.0.3.3"], 3000);
      const [fourth] = suspects.strike(["127.0.3.4"], 4500);
      assert.equal(third!.refusedForSeconds, 300);
      assert.equal(fourth!.refusedForSeconds, 300);
      assert.equal(suspects.state(4500).refused, 2);
    },
  );
});
