/**
 * The demo page's close-code table (static/index.html) against the codes a
 * close event can carry here: every code `/close` may send
 * (`isSendableCloseCode`, RFC 6455 §7.4.1) and the two the browser reports
 * itself (1005, 1006), each explained in all three languages. Read from the
 * files, without a browser.
 */
import assert from "node:assert/strict";
import { isSendableCloseCode } from "../../lib/protocol/close_codes.ts";
import { LANGUAGES, MESSAGES } from "../../static/i18n.js";

const page = await Deno.readTextFile(
  new URL("../../static/index.html", import.meta.url),
);
/** The table's rows: `close-1000` is one code, `close-4000-4999` a range. */
const rows = [...page.matchAll(/<tr id="close-(\d{4})(?:-(\d{4}))?">/g)]
  .map((match) => ({
    id: `close-${match[1]}${match[2] ? `-${match[2]}` : ""}`,
    from: Number(match[1]),
    to: Number(match[2] ?? match[1]),
  }));

/** The row that explains `code`, as entries.js's `closeCodeRow` finds it. */
function rowOf(code: number) {
  return rows.find((row) => row.from <= code && code <= row.to);
}

Deno.test("the close-code table has a row for every code /close may send and each one the browser reports", async (t) => {
  await t.step("1000-1015: each sendable code, and 1005 and 1006", () => {
    const missing = [];
    for (let code = 1000; code <= 1015; code++) {
      const due = isSendableCloseCode(code) || code === 1005 || code === 1006;
      if (due && rowOf(code) === undefined) missing.push(code);
    }
    assert.deepEqual(missing, []);
  });
  await t.step("3000-4999 in two ranges: registered and application", () => {
    assert.equal(rowOf(3000)?.id, "close-3000-3999");
    assert.equal(rowOf(3999)?.id, "close-3000-3999");
    assert.equal(rowOf(4000)?.id, "close-4000-4999");
    assert.equal(rowOf(4999)?.id, "close-4000-4999");
  });
  await t.step("no row for a code that never reaches a close event", () => {
    for (const code of [1004, 1015, 2000, 5000]) {
      assert.equal(rowOf(code), undefined, String(code));
    }
  });
});

Deno.test("each close-code row is explained in every language, differently", () => {
  for (const { id } of rows) {
    const key = id.replace("close-", "close.");
    assert.ok(page.includes(`data-i18n="${key}"`), `${id} shows ${key}`);
    const texts = LANGUAGES.map((lang) => MESSAGES[lang]?.[key]);
    for (const [i, text] of texts.entries()) {
      assert.ok((text?.length ?? 0) > 10, `${LANGUAGES[i]} ${key}`);
    }
    assert.equal(new Set(texts).size, LANGUAGES.length, key);
  }
});

Deno.test("1010 is explained as a client's code, which a browser never sends", () => {
  assert.match(MESSAGES.en!["close.1010"]!, /sent by a client/);
  assert.match(MESSAGES.en!["close.1010"]!, /browser never sends it/);
  assert.match(MESSAGES["zh-Hant"]!["close.1010"]!, /由用戶端送出/);
  assert.match(MESSAGES["zh-Hans"]!["close.1010"]!, /由客户端发送/);
});
