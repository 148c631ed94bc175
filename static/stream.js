/**
 * The message stream: one list of what was sent (↑), received (↓) and what
 * happened (open, close, error), capped at {@link MAX_ENTRIES}. Entries are
 * queued and written once per animation frame, so a burst of thousands of
 * echoes costs one layout per frame, and the list follows new entries only
 * while the reader is at the bottom.
 *
 * @module
 */
import { localTime } from "./format.js";

/** Sent and received messages are marked with an arrow, other entries with a word. */
const ARROWS = { send: "↑", message: "↓" };

/** Entries kept in the page; older ones are dropped first. */
export const MAX_ENTRIES = 1000;

/** Full payloads kept for Expand and Copy, in bytes (about); older ones are let go. */
const KEEP_BYTES = 32 * 1048576;

/** Expanded text longer than this is shown cut (Copy still copies it all). */
const EXPAND_CHARS = 65536;

/**
 * @typedef {object} Entry
 * @property {"send"|"message"|"open"|"close"|"error"|"note"} kind
 * @property {string} summary one line, already cut to a preview
 * @property {number} [bytes] message size
 * @property {() => string} [full] the whole message, pretty when JSON
 * @property {number} [keep] bytes held by `full`
 * @property {string} [link] href of an explanation
 * @property {string} [linkText]
 * @property {"text"|"binary"} [type] a message's type
 * @property {string} [search] the text a filter looks in (else the summary)
 * @property {Date} [at] when it happened (now, unless replayed from a recording)
 * @property {boolean} [whole] words that matter whole (a burst's report):
 *   they wrap, and take the empty Expand column, instead of being cut; by
 *   default a message is whole when it has no `full` to expand
 */

/**
 * What a filter sees of an entry.
 * @typedef {{ dir: "sent"|"received"|"event", type?: "text"|"binary", search: string }} Facets
 */

const DIRECTIONS = { send: "sent", message: "received" };

/** Wide characters (CJK, full-width forms): two columns of a monospace font. */
const WIDE = /[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]/;

/** The columns `text` takes in a monospace font, a wide character two. */
function columns(text) {
  let count = 0;
  for (const character of text) count += WIDE.test(character) ? 2 : 1;
  return count;
}

export class MessageStream {
  /** @type {HTMLOListElement} */
  #list;
  /** The scrolling role="log" element around the list. */
  #box;
  /** @type {(key: string, values?: object) => string} */
  #t;
  #onChange;
  #size;
  #gap;
  /** @type {Array<Entry & {seq: number, at: Date, gap: number | undefined}>} */
  #queue = [];
  #scheduled = false;
  #follow = true;
  /** scrollTop right after the last scroll to the bottom. */
  #pinnedAt = 0;
  /** Entries added since the page opened: each entry's number. */
  #seq = 0;
  /** Entries added since the last {@link clear}: the count's "of". */
  #total = 0;
  #shown = 0;
  /** Time of the entry before, in ms since the epoch. */
  #lastAt;
  /** Unseen entries while not following. */
  #unseen = 0;
  /** Entry elements with a kept payload, oldest first, for the byte budget. */
  #kept = [];
  #keptBytes = 0;
  /** @type {WeakMap<Element, () => string>} */
  #payloads = new WeakMap();
  /** @type {WeakMap<Element, Facets>} */
  #facets = new WeakMap();
  /** @type {((facets: Facets) => boolean) | undefined} */
  #filter;
  /** Entries in the page that the filter lets through. */
  #matches = 0;

  /**
   * @param {HTMLOListElement} list the list, inside the scrolling role="log" element
   * @param {object} options
   * @param {(key: string, values?: object) => string} options.t translates
   * @param {(bytes: number) => string} options.size formats a size
   * @param {(ms: number) => string} options.gap formats the time since the previous entry
   * @param {(state: {total: number, shown: number, unseen: number, follow: boolean}) => void} options.onChange
   */
  constructor(list, options) {
    this.#list = list;
    this.#box = list.parentElement;
    this.#t = options.t;
    this.#size = options.size;
    this.#gap = options.gap;
    this.#onChange = options.onChange;
    const box = this.#box;
    box.addEventListener("scroll", () => {
      // A scroll that did not move up (the box or a row changed height
      // under it) is not the reader leaving the bottom: stay pinned.
      if (this.#follow && box.scrollTop >= this.#pinnedAt - 1) {
        this.#pin();
        return;
      }
      const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 24;
      if (atBottom !== this.#follow) {
        this.#follow = atBottom;
        if (atBottom) this.#unseen = 0;
        this.#changed();
      }
    }, { passive: true });
    list.addEventListener("click", (event) => this.#click(event));
    new ResizeObserver(() => {
      if (this.#follow) this.#pin();
    }).observe(box);
  }

  /** Scrolls to the newest entry and remembers where that was. */
  #pin() {
    this.#box.scrollTop = this.#box.scrollHeight;
    this.#pinnedAt = this.#box.scrollTop;
  }

  /** Queues an entry; it is written on the next animation frame. */
  add(entry) {
    const at = entry.at ?? new Date();
    const gap = this.#lastAt === undefined
      ? undefined
      : at.getTime() - this.#lastAt;
    this.#lastAt = at.getTime();
    this.#seq++;
    this.#total++;
    this.#queue.push({ ...entry, seq: this.#seq, at, gap });
    if (this.#queue.length > MAX_ENTRIES) this.#queue.shift();
    if (!this.#scheduled) {
      this.#scheduled = true;
      requestAnimationFrame(() => this.flush());
    }
  }

  /** Writes the queued entries now, in one batch. */
  flush() {
    this.#scheduled = false;
    if (this.#queue.length === 0) return;
    const fragment = document.createDocumentFragment();
    for (const entry of this.#queue) fragment.append(this.#render(entry));
    const added = this.#queue.length;
    this.#queue = [];
    this.#list.append(fragment);
    this.#shown += added;
    while (this.#shown > MAX_ENTRIES) {
      const first = this.#list.firstElementChild;
      if (!first) break;
      this.#forget(first);
      if (!first.hidden) this.#matches--;
      first.remove();
      this.#shown--;
    }
    if (this.#follow) this.#pin();
    else this.#unseen += added;
    this.#changed();
  }

  /** Scrolls to the newest entry and follows again. */
  follow() {
    this.#follow = true;
    this.#unseen = 0;
    this.#pin();
    this.#changed();
  }

  /**
   * Empties the stream; the sequence numbers go on, the count starts again
   * (it read "0 shown of 3", as if a filter hid three).
   */
  clear() {
    this.#queue = [];
    this.#total = 0;
    this.#list.replaceChildren();
    this.#shown = 0;
    this.#unseen = 0;
    this.#follow = true;
    this.#kept = [];
    this.#keptBytes = 0;
    this.#matches = 0;
    this.#lastAt = undefined;
    this.#changed();
  }

  /**
   * Shows only the entries `filter` accepts (all of them when undefined),
   * now and as they arrive; one pass over at most 1,000 elements.
   * @param {((facets: Facets) => boolean) | undefined} filter
   */
  setFilter(filter) {
    this.#filter = filter;
    let matches = 0;
    for (const item of this.#list.children) {
      const show = !filter || filter(this.#facets.get(item));
      if (item.hidden === show) item.hidden = !show;
      if (show) matches++;
    }
    this.#matches = matches;
    this.#changed();
    if (this.#follow) this.#pin();
  }

  /** Re-labels the buttons after a language change. */
  relabel() {
    for (const button of this.#list.querySelectorAll("button[data-action]")) {
      button.textContent = this.#buttonText(button);
    }
  }

  #changed() {
    this.#onChange({
      total: this.#total,
      shown: this.#shown,
      unseen: this.#unseen,
      follow: this.#follow,
      filtering: this.#filter !== undefined,
      matches: this.#matches,
    });
  }

  #buttonText(button) {
    const { action } = button.dataset;
    if (action === "expand") {
      return this.#t(
        button.getAttribute("aria-expanded") === "true"
          ? "stream.collapse"
          : "stream.expand",
      );
    }
    return this.#t(button.dataset.copied ? "stream.copied" : "stream.copy");
  }

  #render(entry) {
    const item = document.createElement("li");
    // A message with nothing behind Expand is shown whole: it wraps into
    // the empty Expand column instead of being cut with no way to read it.
    const whole = entry.whole ?? (entry.kind in ARROWS && !entry.full);
    item.className = `entry ${entry.kind}${whole ? " whole" : ""}`;
    const seq = document.createElement("span");
    seq.className = "seq";
    seq.textContent = String(entry.seq);
    const kind = document.createElement("span");
    kind.className = "kind";
    const arrow = ARROWS[entry.kind];
    if (arrow) {
      // The arrow for the eye, the word for screen readers.
      const mark = document.createElement("span");
      mark.className = "arrow";
      mark.setAttribute("aria-hidden", "true");
      mark.textContent = arrow;
      const word = document.createElement("span");
      word.className = "visually-hidden";
      word.textContent = this.#t(`kind.${entry.kind}`);
      kind.append(mark, word);
    } else {
      kind.textContent = this.#t(`kind.${entry.kind}`);
    }
    const summary = document.createElement("span");
    summary.className = "summary";
    summary.textContent = entry.summary;
    // A link belongs to the summary's cell: as a cell of its own it pushed
    // the size and time columns of its row out of line.
    if (entry.link) {
      const link = document.createElement("a");
      link.href = entry.link;
      link.textContent = entry.linkText ?? entry.link;
      summary.append(" ", link);
    }
    item.append(seq, kind, summary);
    // Size, time and gap in cells of fixed width, so they line up row by row.
    const meta = document.createElement("span");
    meta.className = "meta";
    for (
      const [name, text] of [
        ["size", entry.bytes === undefined ? "" : this.#size(entry.bytes)],
        ["time", localTime(entry.at)],
        ["gap", entry.gap === undefined ? "" : this.#gap(entry.gap)],
      ]
    ) {
      const cell = document.createElement("span");
      cell.className = name;
      cell.textContent = text;
      // The milliseconds apart: a phone's Local time shows hh:mm:ss, so a
      // short message's row stays one line (style.css).
      if (name === "time") {
        const dot = text.lastIndexOf(".");
        const ms = document.createElement("span");
        ms.className = "ms";
        ms.textContent = text.slice(dot);
        cell.textContent = text.slice(0, dot);
        cell.append(ms);
      }
      meta.append(cell);
    }
    item.append(meta);
    const size = meta.firstElementChild.textContent;
    // A phone holds the size in a space of this width at the first line's
    // right (style.css): the size's own, so words fill the rest.
    if (size) item.style.setProperty("--size-width", `${columns(size)}ch`);
    const facets = {
      dir: DIRECTIONS[entry.kind] ?? "event",
      type: entry.type,
      search: entry.search ?? entry.summary,
    };
    this.#facets.set(item, facets);
    if (this.#filter && !this.#filter(facets)) item.hidden = true;
    else this.#matches++;
    const tools = document.createElement("span");
    tools.className = "tools";
    item.append(tools);
    if (entry.full) {
      this.#payloads.set(item, entry.full);
      this.#kept.push(item);
      this.#keptBytes += entry.keep ?? 0;
      item.dataset.keep = String(entry.keep ?? 0);
      while (this.#keptBytes > KEEP_BYTES && this.#kept.length > 1) {
        this.#forget(this.#kept[0]);
      }
      for (const action of ["expand", "copy"]) {
        const button = document.createElement("button");
        button.type = "button";
        button.dataset.action = action;
        if (action === "expand") button.setAttribute("aria-expanded", "false");
        button.textContent = this.#buttonText(button);
        tools.append(button);
      }
    }
    return item;
  }

  /** Lets go of an entry's payload (dropped, or over the byte budget). */
  #forget(item) {
    if (!this.#payloads.has(item)) return;
    this.#payloads.delete(item);
    this.#keptBytes -= Number(item.dataset.keep ?? 0);
    const index = this.#kept.indexOf(item);
    if (index >= 0) this.#kept.splice(index, 1);
    for (const button of item.querySelectorAll("button[data-action]")) {
      button.disabled = true;
      button.title = this.#t("stream.letGo");
    }
  }

  #click(event) {
    const button = event.target.closest?.("button[data-action]");
    if (!button) return;
    const item = button.closest("li");
    const full = this.#payloads.get(item);
    if (!full) return;
    if (button.dataset.action === "expand") {
      let pre = item.querySelector("pre");
      const open = button.getAttribute("aria-expanded") !== "true";
      if (open && !pre) {
        pre = document.createElement("pre");
        pre.className = "full";
        const text = full();
        pre.textContent = text.length > EXPAND_CHARS
          ? `${text.slice(0, EXPAND_CHARS)}\n… ${
            this.#t("stream.cutAt", { count: text.length })
          }`
          : text;
        item.append(pre);
      }
      if (pre) pre.hidden = !open;
      button.setAttribute("aria-expanded", String(open));
      button.textContent = this.#buttonText(button);
      return;
    }
    const text = full();
    const copied = () => {
      button.dataset.copied = "1";
      button.textContent = this.#buttonText(button);
    };
    if (navigator.clipboard?.writeText) {
      navigator.clipboard.writeText(text).then(copied, () => {
        button.textContent = this.#t("stream.copyFailed");
      });
    } else {
      button.textContent = this.#t("stream.copyFailed");
    }
  }
}
