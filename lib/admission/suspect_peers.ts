/**
 * Strikes, vouches and refusals shared by every `deno serve --parallel`
 * worker. Each worker runs its own overload watch and suspect list
 * (`suspects.ts`), and Deno hands each new connection to whichever worker
 * accepts it: an address listed in the worker that struck it was refused
 * there only, and its next upgrades were admitted by the others
 * (BENCHMARKS' split soak rows under serve); an attacker whose two
 * incidents fell in two workers was never listed. A worker posts what its
 * suspect list decided on a `BroadcastChannel`, which reaches every worker
 * of the process, and the others take it in (`SuspectList.adopt`).
 *
 * @module
 */
import * as z from "zod/mini";
import { lazy } from "../lazy.ts";

/** The channel's name; one per process. */
export const SUSPECT_CHANNEL = "ws-echo:suspects";

/** A listing: refused until `refusedUntil` (ms since epoch). */
export interface Listing {
  refusedUntil: number;
  /** Times the key has been listed, for the doubling refusal. */
  listings: number;
}

/** What one worker's suspect list decided, for the others. */
export type SuspectNews =
  | {
    kind: "strike";
    /** When (ms since epoch). */
    at: number;
    /**
     * The keys struck at one incident, with the listing a strike made and
     * when the oldest connection struck opened (ms since epoch), if known
     * (`same_try.ts` `SAME_INCIDENT_MS`).
     */
    struck: Array<
      {
        key: string;
        listing?: Listing | undefined;
        openedAt?: number | undefined;
        /** The connections it cut (`StrikeOptions.connections`). */
        connections?: string[] | undefined;
      }
    >;
  }
  | {
    kind: "vouch";
    /** When (ms since epoch). */
    at: number;
    /** The keys seen exchanging messages at one incident. */
    keys: string[];
  }
  | {
    /**
     * A worker's watchdog thread is about to abort these clients' connections
     * (`watchdog_thread.ts`, `WatchdogOrders.suspectChannel`); its worker
     * strikes them once its loop turns.
     */
    kind: "aborting";
    /** When (ms since epoch). */
    at: number;
    /** The clients' addresses, as the kernel lists them (not keys). */
    addresses: string[];
  };

/**
 * {@link SuspectNews} as another worker posts it, checked before it is
 * adopted (a message on the process's channel crosses a boundary). Built at
 * the first message: most processes have one worker.
 */
const suspectNews = lazy(() => {
  const at = z.number().check(z.refine(Number.isFinite));
  return z.discriminatedUnion("kind", [
    z.object({
      kind: z.literal("strike"),
      at,
      struck: z.array(z.object({
        key: z.string(),
        listing: z.optional(
          z.object({ refusedUntil: z.number(), listings: z.number() }),
        ),
        openedAt: z.optional(z.number()),
        connections: z.optional(z.array(z.string())),
      })),
    }),
    z.object({ kind: z.literal("vouch"), at, keys: z.array(z.string()) }),
    z.object({
      kind: z.literal("aborting"),
      at,
      addresses: z.array(z.string()),
    }),
  ]);
});

/** How a suspect list tells the other workers its news and hears theirs. */
export interface SuspectPeers {
  /** Tells the other workers. */
  publish(news: SuspectNews): void;
  /** Calls `adopt` with each piece of news another worker publishes. */
  listen(adopt: (news: SuspectNews) => void): void;
  /** Stops listening (when the server stops). */
  close(): void;
}

/** {@link SuspectPeers} over a `BroadcastChannel`. */
export class BroadcastSuspectPeers implements SuspectPeers {
  readonly #channel: BroadcastChannel;
  /** Closed: `postMessage` would throw InvalidStateError. */
  #closed = false;

  /** @param options.name The channel's name (tests use their own). */
  constructor(options: { name?: string } = {}) {
    this.#channel = new BroadcastChannel(options.name ?? SUSPECT_CHANNEL);
  }

  /**
   * Posts `news` to the other workers; nothing once {@link close}d: a
   * strike made during the drain (the leak exit, a SIGTERM during an `ss`
   * read) comes after `dispose()`, and `postMessage` on a closed channel
   * throws `InvalidStateError`, which killed the worker mid-drain.
   */
  publish(news: SuspectNews): void {
    if (this.#closed) return;
    this.#channel.postMessage(news);
  }

  /** Hears only news of {@link SuspectNews}' shape; anything else is dropped. */
  listen(adopt: (news: SuspectNews) => void): void {
    this.#channel.onmessage = (event: MessageEvent<unknown>) => {
      const parsed = suspectNews().safeParse(event.data);
      if (parsed.success) adopt(parsed.data);
    };
  }

  /** Stops listening and publishing. */
  close(): void {
    this.#closed = true;
    this.#channel.close();
  }
}
