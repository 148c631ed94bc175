/**
 * One `/room/NAME/presence` stream: a `presence` event with the room's
 * member count now and after every change, until it ends (its lifetime,
 * shutdown, the client going away). A reader that falls behind gets only
 * the latest count, so the stream holds at most one event.
 *
 * @module
 */
import type { SSEStreamingApi } from "hono/streaming";
import { SSE_RETRY_MS } from "../connection/event_stream.ts";
import { EndingStream } from "../connection/leased_stream.ts";
import type { PresenceEvent, RoomRegistry } from "./registry.ts";

/** The presence of one room, streamed to one client. */
export class PresenceStream extends EndingStream {
  readonly #writer: SSEStreamingApi;
  readonly #rooms: Pick<RoomRegistry, "watch">;
  readonly #name: string;
  readonly #ended = Promise.withResolvers<void>();
  #writing = false;
  /** The count not written yet: only the latest is kept. */
  #latest: PresenceEvent | undefined;

  constructor(
    writer: SSEStreamingApi,
    rooms: Pick<RoomRegistry, "watch">,
    name: string,
  ) {
    super();
    this.#writer = writer;
    this.#rooms = rooms;
    this.#name = name;
    writer.onAbort(() => this.end("client went away"));
  }

  protected ended(): void {
    this.#ended.resolve();
  }

  /**
   * Watches the room until the stream ends; a room that cannot be watched
   * (rooms off) ends it at once with that reason.
   */
  async run(): Promise<void> {
    const unwatch = this.#rooms.watch(this.#name, (event) => {
      this.#latest = event;
      if (!this.#writing) {
        this.#write().catch(() => this.end("client went away"));
      }
    });
    if (typeof unwatch === "string") return this.end(unwatch);
    await this.#ended.promise;
    unwatch();
  }

  async #write(): Promise<void> {
    this.#writing = true;
    while (this.#latest && !this.#writer.aborted) {
      const event = this.#latest;
      this.#latest = undefined;
      await this.#writer.writeSSE({
        event: "presence",
        data: JSON.stringify(event),
        id: String(++this.events),
        ...(this.events === 1 ? { retry: SSE_RETRY_MS } : {}),
      });
    }
    this.#writing = false;
  }
}
