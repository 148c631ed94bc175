/**
 * Small things every part of the soak uses: the server's address, outcome
 * counters, a sleep that ends early on abort, rounding, source addresses.
 *
 * @module
 */

/** The server listens here; every client connects here. */
export const HOST = "127.0.0.1";
/** Bytes in a KiB. */
export const KiB = 1024;

/** Counts outcomes by name (`status 429`, `close 1008`, `stall`, …). */
export type Counts = Record<string, number>;

/** Adds `by` to the count of `key`. */
export function count(counts: Counts, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** `value` rounded to `digits` decimals. */
export function round(value: number, digits = 0): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/**
 * A client's source address, `127.0.<block>.<n>`. Block 0 is the
 * well-behaved clients', block 7 the admission check's; each hostile phase
 * has its own (see `phases/mod.ts`).
 */
export function address(block: number, n: number): string {
  return `127.0.${block}.${n}`;
}

/** `frame` `times` times in one buffer, to write in one go. */
export function repeat(frame: Uint8Array, times: number): Uint8Array {
  const out = new Uint8Array(frame.length * times);
  for (let i = 0; i < times; i++) out.set(frame, i * frame.length);
  return out;
}
