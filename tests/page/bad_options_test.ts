/**
 * How the demo page reads the server's 400 for bad options
 * (static/bad_options.js), against the server's own refusals
 * (parseEchoQuery), without a browser.
 */
import assert from "node:assert/strict";
import { badOptions, choiceList } from "../../static/bad_options.js";
import { parseEchoQuery } from "../../lib/connection/parse_options.ts";

/** The server's 400 body for `query` on /echo. */
function refusalOf(query: string): string {
  const refused = parseEchoQuery(new URLSearchParams(query));
  assert.ok("status" in refused, `${query} was accepted`);
  return refused.body;
}

/** What the page reads from that body, for `query`. */
function whyOf(query: string) {
  return badOptions(refusalOf(query), new URLSearchParams(query))
    .map(({ option, value, key, values }) => ({ option, value, key, values }));
}

Deno.test("badOptions() names each refused option with what it takes", async (t) => {
  await t.step("a number out of range: its bounds", () => {
    assert.deepEqual(whyOf("delay=soon"), [{
      option: "delay",
      value: "soon",
      key: "badOption.range",
      values: { min: "0", max: "10000" },
    }]);
  });
  await t.step("a word not on the list: the list", () => {
    assert.deepEqual(whyOf("format=xml")[0]?.values, {
      choices: "raw or json",
    });
    assert.deepEqual(whyOf("greeting=yes")[0]?.values, {
      choices: "no value, 1, true, 0 or false",
    });
  });
  await t.step("a name given twice: once, whatever the value", () => {
    assert.equal(whyOf("format=raw&format=raw")[0]?.key, "badOption.once");
    assert.equal(whyOf("delay=1&delay=1")[0]?.key, "badOption.once");
    assert.equal(
      whyOf("close_after=1&code=1000&code=1005")[0]?.key,
      "badOption.once",
    );
  });
  await t.step(
    "a name given twice is read from the URL, not from the server's words",
    () => {
      const body = 'Invalid option "delay": some future wording';
      const [once] = badOptions(body, new URLSearchParams("delay=1&delay=2"));
      assert.equal(once?.key, "badOption.once");
      const [other] = badOptions(body, new URLSearchParams("delay=1"));
      assert.equal(other?.key, "badOption.other");
    },
  );
  await t.step(
    "a close code out of the sendable ranges, a missing partner",
    () => {
      assert.deepEqual(whyOf("close_after=1&code=1005")[0]?.values, {
        codes: "1000-1003, 1007-1011 or 3000-4999",
      });
      assert.equal(whyOf("code=4000")[0]?.key, "badOption.together");
      assert.deepEqual(whyOf("code=4000")[0]?.values, {
        partner: "close_after",
      });
    },
  );
  await t.step("an option of another endpoint", () => {
    assert.equal(whyOf("count=5")[0]?.key, "badOption.streamOnly");
  });
  await t.step("two bad options: both, in the server's order", () => {
    assert.deepEqual(whyOf("delay=x&format=y").map((p) => p.option), [
      "delay",
      "format",
    ]);
  });
  await t.step("a body with no option line: none", () => {
    assert.deepEqual(badOptions("Bad room name", new URLSearchParams()), []);
  });
});

Deno.test("choiceList() quotes the alternatives in the page's language", () => {
  const words = { open: "「", close: "」", empty: "不帶值" };
  assert.equal(
    choiceList("no value, 1 or true", "zh-Hant", words),
    "不帶值、「1」或「true」",
  );
  assert.equal(
    choiceList("raw or json", "en", { open: "“", close: "”", empty: "" }),
    "“raw” or “json”",
  );
});
