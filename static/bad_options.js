/**
 * A 400 for bad query options, said in the page's language. The server
 * answers one English line per bad option (`Invalid option "delay":
 * expected an integer 0-10000`, lib/connection/parse_options.ts
 * badOptions()), then the help of every option; this reads those lines
 * into keys of the page's tables, so the failure box names the option,
 * the value the URL gave and what the server takes, and keeps the
 * server's own words for a disclosure.
 *
 * @module
 */

/** One bad option: a key of the tables and its values. */
const LINE = /^Invalid option "([^"]+)": (.*)$/;

/**
 * What the server's message says is wrong, as a key of the tables
 * ("badOption.*") and its values; the patterns follow option_schema.ts.
 * @param {string} message the text after `Invalid option "NAME": `
 * @returns {{ key: string, values?: Record<string, string> }}
 */
function whyOf(message) {
  let found = message.match(/^expected an integer (\d+)-(\d+)/);
  if (found) return { key: "badOption.range", values: rangeOf(found) };
  found = message.match(/^expected a close code a server may send: (.+)$/);
  if (found) return { key: "badOption.closeCode", values: { codes: found[1] } };
  found = message.match(/^expected at most (\d+) bytes of UTF-8/);
  if (found) return { key: "badOption.bytes", values: { max: found[1] } };
  found = message.match(/^only applies together with (\w+)/);
  if (found) {
    return { key: "badOption.together", values: { partner: found[1] } };
  }
  if (message.startsWith("only applies to /stream")) {
    return { key: "badOption.streamOnly" };
  }
  if (message.startsWith("only applies to /room/NAME")) {
    return { key: "badOption.roomOnly" };
  }
  if (message.startsWith("does not apply to /room/NAME")) {
    return { key: "badOption.notRoom" };
  }
  found = message.match(/^expected ((?:[\w ]+, )*[\w ]+ or [\w ]+)$/);
  if (found) return { key: "badOption.choice", values: { choices: found[1] } };
  return { key: "badOption.other" };
}

function rangeOf(found) {
  return { min: found[1], max: found[2] };
}

/**
 * The bad options of a 400 body, each with why, in the server's order.
 * A name the URL gives more than once is said so, read from the URL itself
 * rather than from the server's words for it (`given twice; expected …,
 * once`), so the page does not follow their wording.
 * @param {string} body the server's answer
 * @param {URLSearchParams} params the refused URL's query
 * @returns {{ option: string, value: string, key: string, values: Record<string, string> }[]}
 *   empty when the body has no such line
 */
export function badOptions(body, params) {
  const problems = [];
  for (const line of body.split("\n")) {
    const found = line.match(LINE);
    if (!found) continue;
    const [, option, message] = found;
    const given = params.getAll(option);
    const why = given.length > 1 ? { key: "badOption.once" } : whyOf(message);
    problems.push({
      option,
      value: given[0] ?? "",
      key: why.key,
      values: why.values ?? {},
    });
  }
  return problems;
}

/**
 * A list of alternatives from the server's English ("raw or json", "no
 * value, 1, true, 0 or false") in the page's language: each one quoted
 * and joined by Intl.ListFormat's "or"; "no value" is `empty`.
 * @param {string} choices
 * @param {string} language
 * @param {{ open: string, close: string, empty: string }} words
 */
export function choiceList(choices, language, words) {
  const items = choices.split(/, | or /).map((item) =>
    item === "no value" ? words.empty : `${words.open}${item}${words.close}`
  );
  return new Intl.ListFormat(language, { type: "disjunction" }).format(items);
}
