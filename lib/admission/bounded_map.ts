/**
 * A `Map` that keeps at most a number of keys and forgets its oldest past
 * it: the one rule behind every table of client keys (addresses, networks)
 * the admission layer keeps, since strangers rotate addresses and each new
 * one would otherwise add an entry for good (the request rate's buckets,
 * the suspect list's vouches, the shed networks, what each key brought).
 *
 * @module
 */

/**
 * A `Map` in the order its keys were last set: {@link BoundedMap.set} moves
 * a key to the end, and setting a new key when `maxKeys` are held first
 * deletes the oldest (the first in the order). Reading (`get`, `has`,
 * iteration) does not change the order, unlike an LRU cache such as std's
 * `@std/cache` `LruCache`, whose `get` promotes; deleting while iterating is
 * safe, as with any `Map`.
 *
 * @example Past maxKeys the key set longest ago goes
 * ```ts
 * import assert from "node:assert/strict";
 * import { BoundedMap } from "./bounded_map.ts";
 * const seen = new BoundedMap<string, number>(2);
 * seen.set("198.51.100.1", 1);
 * seen.set("203.0.113.7", 2);
 * seen.set("198.51.100.1", 3); // set again: now the newest
 * seen.set("192.0.2.9", 4); // a third key: the oldest, 203.0.113.7, goes
 * assert.deepEqual([...seen], [["198.51.100.1", 3], ["192.0.2.9", 4]]);
 * seen.get("198.51.100.1"); // reading keeps the order
 * seen.set("192.0.2.10", 5);
 * assert.deepEqual([...seen.keys()], ["192.0.2.9", "192.0.2.10"]);
 * ```
 */
export class BoundedMap<K, V> extends Map<K, V> {
  readonly #maxKeys: number;

  /**
   * @param maxKeys Keys held at most, a whole number of at least 1.
   * @throws {RangeError} When `maxKeys` is not a whole number of at least 1.
   */
  constructor(maxKeys: number) {
    super();
    if (!Number.isInteger(maxKeys) || maxKeys < 1) {
      throw new RangeError(
        `Cannot bound a map to "${maxKeys}" keys: expected a whole number of at least 1`,
      );
    }
    this.#maxKeys = maxKeys;
  }

  /** Keys held at most. */
  get maxKeys(): number {
    return this.#maxKeys;
  }

  /**
   * Sets `key` to `value` as the newest key; a new key when `maxKeys` are
   * held first deletes the oldest.
   */
  override set(key: K, value: V): this {
    if (!this.delete(key) && this.size >= this.#maxKeys) {
      // A Map iterates in insertion order: the first key is the oldest.
      this.delete(this.keys().next().value!);
    }
    return super.set(key, value);
  }
}
