/**
 * The demo page's pure helpers (static/format.js) and its text tables
 * (static/i18n.js), tested without a browser.
 */
import assert from "node:assert/strict";
import {
  checkCloseCode,
  checkProtocols,
  checkReason,
  checkUrl,
  decodeJsonEcho,
  formatBytes,
  formatGap,
  literal,
  localTime,
  parseHex,
  previewText,
  utcOffset,
} from "../../static/format.js";
import { fill, LANGUAGES, MESSAGES, pickLanguage } from "../../static/i18n.js";
import { DEFAULT_CONFIG } from "../../lib/config.ts";
import { describeLimits } from "../../lib/http/limits_report.ts";

Deno.test("checkReason() accepts 123 UTF-8 bytes and explains 124 or more", async (t) => {
  await t.step("41 Chinese characters are 123 bytes", () => {
    assert.deepEqual(checkReason("中".repeat(41)), {
      reason: "中".repeat(41),
      bytes: 123,
    });
  });
  await t.step("42 Chinese characters are 126 bytes: an error", () => {
    assert.deepEqual(checkReason("中".repeat(42)), {
      error: "invalid.reason",
      bytes: 126,
    });
  });
});

Deno.test("checkCloseCode() allows empty, 1000 and 3000-4999 only", () => {
  assert.deepEqual(checkCloseCode(""), { code: undefined });
  assert.deepEqual(checkCloseCode(" 1000 "), { code: 1000 });
  assert.deepEqual(checkCloseCode("4999"), { code: 4999 });
  assert.deepEqual(checkCloseCode("1001"), { error: "invalid.code" });
  assert.deepEqual(checkCloseCode("5000"), { error: "invalid.code" });
  assert.deepEqual(checkCloseCode("1e3"), { error: "invalid.codeNotNumber" });
});

Deno.test("checkProtocols() takes tokens once each, as new WebSocket() does", () => {
  assert.deepEqual(checkProtocols(""), { protocols: [] });
  assert.deepEqual(checkProtocols("chat, v2"), { protocols: ["chat", "v2"] });
  assert.deepEqual(checkProtocols("a b"), {
    error: "invalid.protocol",
    value: "a b",
  });
  assert.deepEqual(checkProtocols("chat,"), {
    error: "invalid.protocol",
    value: "",
  });
  assert.deepEqual(checkProtocols("x, x"), {
    error: "invalid.protocolTwice",
    value: "x",
  });
});

Deno.test("checkUrl() takes ws(s) and http(s), nothing else", () => {
  assert.equal(checkUrl("ws://a/echo").url?.href, "ws://a/echo");
  assert.equal(checkUrl("https://a/echo").url?.href, "wss://a/echo");
  assert.deepEqual(checkUrl("ftp://a/"), { error: "invalid.urlScheme" });
  assert.deepEqual(checkUrl("ws://a/#x"), { error: "invalid.urlHash" });
  assert.deepEqual(checkUrl("echo"), { error: "invalid.url" });
});

Deno.test("formatBytes() and formatGap() give short sizes and times", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(65536), "64 KiB");
  assert.equal(formatBytes(1048576), "1 MiB");
  assert.equal(formatGap(3.4), "+3 ms");
  assert.equal(formatGap(1250), "+1.3 s");
  assert.equal(formatGap(240000), "+4 min");
});

Deno.test("localTime() and utcOffset() label local time", () => {
  const date = new Date(2026, 0, 2, 3, 4, 5, 6);
  assert.equal(localTime(date), "03:04:05.006");
  assert.match(utcOffset(date), /^UTC([+−]\d\d:\d\d)?$/);
});

Deno.test("previewText() cuts long text to one line", () => {
  assert.deepEqual(previewText("a\nb"), { text: "a⏎b", cut: false });
  const long = previewText("x".repeat(1048576));
  assert.equal(long.cut, true);
  assert.ok(long.text.length <= 101);
});

Deno.test("literal() keeps the code panel short for a 1 MB message", () => {
  assert.equal(literal("hi"), '"hi"');
  assert.ok(literal("x".repeat(1048576)).length < 200);
  // From the text's start and its whole length, as the code panel keeps it.
  assert.equal(
    literal("x".repeat(80), { length: 1048576, characters: "個字元" }),
    `"${"x".repeat(80)}" /* …1048576 個字元 */`,
  );
  assert.equal(
    literal("x".repeat(80), { characters: "characters" }),
    literal("x".repeat(1048576).slice(0, 80)),
  );
});

Deno.test("decodeJsonEcho() decodes format=json binary data", () => {
  const echo = decodeJsonEcho({
    seq: 2,
    type: "binary",
    bytes: 4,
    receivedAt: "2026-01-01T00:00:00.000Z",
    data: "3q2+7w==",
  });
  assert.deepEqual([...echo!.binary!], [0xde, 0xad, 0xbe, 0xef]);
  assert.equal(decodeJsonEcho({ seq: 1 }), undefined);
});

Deno.test("parseHex() reads spaced, comma and 0x forms", () => {
  assert.deepEqual([...parseHex("de ad,0xbe EF")!], [0xde, 0xad, 0xbe, 0xef]);
  assert.equal(parseHex("abc"), undefined);
});

Deno.test("every language has every text, and the terms each reader expects", async (t) => {
  const keys = Object.keys(MESSAGES.en!).sort();
  for (const lang of LANGUAGES) {
    await t.step(`${lang} has the same keys as English`, () => {
      assert.deepEqual(Object.keys(MESSAGES[lang]!).sort(), keys);
    });
  }
  await t.step("zh-Hant says 交握, never 握手", () => {
    const all = Object.values(MESSAGES["zh-Hant"]!).join("");
    assert.ok(all.includes("交握"));
    assert.ok(!all.includes("握手"));
  });
  await t.step("zh-Hans quotes with “”, never 「」", () => {
    const all = Object.values(MESSAGES["zh-Hans"]!).join("");
    assert.ok(!/[「」]/.test(all));
  });
  // Each pair: the word Taiwan writes (zh-Hant), the word mainland China
  // writes (zh-Hans). A table may not use the other readership's word, even
  // in its own script (回传 reads Taiwanese: newcomer8).
  const terms = [
    ["回傳", "回显", "回传"],
    ["連線", "连接", "连线"],
    ["訊息", "消息", "讯息"],
    ["伺服器", "服务器", "伺服器"],
    ["位元組", "字节", "位元组"],
    ["檔案", "文件", "档案"],
    ["資料", "数据", "资料"],
    ["網路", "网络", "网路"],
    ["用戶端", "客户端", "用户端"],
    ["程式碼", "代码", "程式码"],
    ["訊框", "帧", "讯框"],
    ["本機時間", "本地时间", "本机时间"],
    ["位址", "地址", "位址"],
  ] as const;
  await t.step(
    "each Chinese table uses its readers' words, not the other's",
    () => {
      const hant = Object.values(MESSAGES["zh-Hant"]!).join("");
      const hans = Object.values(MESSAGES["zh-Hans"]!).join("");
      const mainlandInHant = [
        "回顯",
        "消息",
        "服務器",
        "字節",
        "數據",
        "網絡",
        "客戶端",
        "本地時間",
        "幀",
        "地址",
      ];
      for (const [taiwan, mainland, taiwanSimplified] of terms) {
        assert.ok(hant.includes(taiwan), `zh-Hant lacks ${taiwan}`);
        assert.ok(hans.includes(mainland), `zh-Hans lacks ${mainland}`);
        assert.ok(
          !hans.includes(taiwanSimplified),
          `zh-Hans says ${taiwanSimplified}`,
        );
      }
      for (const word of mainlandInHant) {
        assert.ok(!hant.includes(word), `zh-Hant says ${word}`);
      }
    },
  );
  await t.step(
    "the Chinese streams say open, close and error in their own words",
    () => {
      for (const lang of ["zh-Hant", "zh-Hans"]) {
        const words = MESSAGES[lang]!;
        for (const key of ["kind.open", "kind.close", "kind.error"]) {
          assert.notEqual(words[key], MESSAGES.en![key], `${lang} ${key}`);
        }
        for (
          const key of [
            "openDetail",
            "closeDetail",
            "closeClean",
            "closeNotClean",
          ]
        ) {
          assert.doesNotMatch(
            words[key]!,
            /protocol=|code=|reason=|wasClean/,
            `${lang} ${key}`,
          );
        }
      }
    },
  );
  await t.step(
    "zh-Hans calls a close code 关闭码 and keeps 代码 for source code",
    () => {
      const words = MESSAGES["zh-Hans"]!;
      for (
        const key of [
          "closeCode",
          "closeCodes",
          "closeCodesExplained",
          "goodbyeExplained",
          "closeDetail",
          "code.closeAnswer",
          "invalid.codeNotNumber",
          "badOption.closeCode",
        ]
      ) {
        // (Word joiners hold the term together in a line: looks_test.)
        assert.match(words[key]!.replaceAll("\u2060", ""), /关闭码/, key);
      }
      const code = Object.entries(words).filter(([, text]) =>
        text.includes("代码")
      ).map(([key]) => key).sort();
      assert.deepEqual(code, ["code", "code.empty"]);
    },
  );
  await t.step("pickLanguage() follows the URL, then the browser", () => {
    assert.equal(pickLanguage("zh-Hans", ["en"]), "zh-Hans");
    assert.equal(pickLanguage(null, ["zh-TW"]), "zh-Hant");
    assert.equal(pickLanguage(null, ["zh-CN"]), "zh-Hans");
    assert.equal(pickLanguage(null, ["fr"]), "en");
  });
  await t.step(
    "?lang= is mapped like the browser's language, in any case",
    () => {
      for (const tag of ["zh-TW", "zh-HK", "zh-MO", "zh-hant", "zh-Hant-TW"]) {
        assert.equal(pickLanguage(tag, ["en"]), "zh-Hant", tag);
      }
      for (const tag of ["zh", "zh-CN", "zh-SG", "zh-hans", "ZH-HANS-CN"]) {
        assert.equal(pickLanguage(tag, ["en"]), "zh-Hans", tag);
      }
      for (const tag of ["en", "EN", "en-GB"]) {
        assert.equal(pickLanguage(tag, ["zh-TW"]), "en", tag);
      }
      // Not a page language: the browser's preference decides.
      assert.equal(pickLanguage("fr", ["zh-CN"]), "zh-Hans");
      assert.equal(pickLanguage("zhx", ["zh-TW"]), "zh-Hant");
    },
  );
});

Deno.test("fill() says one and many in each language's way", async (t) => {
  await t.step("English: 1 echo, 0 and 2 echoes, a formatted 1,000", () => {
    const text = "{count} {count:echo|echoes}";
    assert.equal(fill(text, { count: 1 }, "en"), "1 echo");
    assert.equal(fill(text, { count: 0 }, "en"), "0 echoes");
    assert.equal(fill(text, { count: 2 }, "en"), "2 echoes");
    assert.equal(fill(text, { count: "1,000" }, "en"), "1,000 echoes");
    assert.equal(fill(text, { count: "1" }, "en"), "1 echo");
  });
  await t.step("Chinese has one form", () => {
    assert.equal(fill("{n} 次{n:x|回傳}", { n: 1 }, "zh-Hant"), "1 次回傳");
  });
  await t.step("braces that are no placeholder stay as written", () => {
    const text = "?format=json wraps it as {seq, type, bytes}";
    assert.equal(fill(text, {}, "en"), text);
  });
  // Each text below can be filled with a count of 1.
  const ones: [string, Record<string, unknown>, RegExp][] = [
    ["chart.rttSummary", { count: 1 }, /^1 echo: /],
    ["chart.flowSummary", { rate: 1 }, /at most 1 message per second/],
    [
      "imported",
      { count: 1, sent: 1 },
      /^Imported 1 entry .* its 1 sent message on/,
    ],
    ["code.replay", { count: 1 }, /the 1 sent message of/],
    ["room.binary", { bytes: 1 }, /^binary, 1 byte$/],
  ];
  for (const [key, values, expected] of ones) {
    await t.step(`${key} with 1`, () => {
      assert.match(fill(MESSAGES.en![key]!, values, "en"), expected);
      // The Chinese texts read the same for 1 and for 2, forms or not.
      for (const lang of ["zh-Hant", "zh-Hans"]) {
        const text = MESSAGES[lang]![key]!;
        const two = Object.fromEntries(
          Object.keys(values).map((name) => [name, 2]),
        );
        assert.equal(
          fill(text, values, lang),
          fill(text, two, lang).replaceAll("2", "1"),
        );
      }
    });
  }
});

Deno.test("the server options' hint quotes each /stream field it names, as the field's label reads", () => {
  for (const lang of LANGUAGES) {
    const words = MESSAGES[lang]!;
    const hint = words.serverOptionsExplained!;
    for (const key of ["streamCount", "streamSize", "streamInterval"]) {
      // The label without its unit: "Size (bytes)" is named "Size".
      const label = words[key]!.replace(/\s*[(（].*$/, "");
      assert.match(
        hint,
        new RegExp(`[“「]${label}[”」]`),
        `${lang}: ${label} in ${hint}`,
      );
    }
  }
});

Deno.test("the stream's count names what it leaves out by the readyState's name, CONNECTING, as State shows it", () => {
  for (const lang of LANGUAGES) {
    const words = MESSAGES[lang]!;
    const count = fill(words["stream.countConnecting"]!, {
      shown: "6",
      total: "6",
      count: "1",
    }, lang);
    // "+1 connecting in Export" read as a connection still being opened.
    assert.match(count, /1 (則 |条 )?CONNECTING/, lang);
    assert.doesNotMatch(count, /connecting|連線中|连接中/, lang);
  }
});

Deno.test("every unit /inspect reports a limit in has its words in each language", () => {
  const units = new Set(
    Object.values(describeLimits(DEFAULT_CONFIG)).map((limit) => limit.unit),
  );
  assert.ok(units.has("seconds"), [...units].join(", "));
  for (const lang of LANGUAGES) {
    const missing = [...units].filter((unit) =>
      MESSAGES[lang]![`limitUnit.${unit}`] === undefined
    );
    // zh-Hant showed "100 requests/s" and "64 members" among 秒 and 條連線.
    assert.deepEqual(missing, [], lang);
  }
});
