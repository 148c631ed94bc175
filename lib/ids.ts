/**
 * Identifiers a user can quote back: one per server instance (shown by `/sse`
 * and `/inspect`) and one per connection (the greeting, `/inspect`, the
 * 101's X-Connection-Id header and the close log line), so a report can be
 * matched to a log line.
 *
 * @module
 */

/** Issues connection ids of the form `<instance>-<n>`. */
export class IdSource {
  /** Eight random hex digits, new each time the service starts. */
  readonly instance: string;
  #count = 0;

  constructor() {
    const bytes = crypto.getRandomValues(new Uint8Array(4));
    this.instance = Array.from(bytes, (b) => b.toString(16).padStart(2, "0"))
      .join("");
  }

  /** A connection id unique within this instance. */
  next(): string {
    return `${this.instance}-${(++this.#count).toString(36)}`;
  }
}
