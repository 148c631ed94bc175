/**
 * Deadlines for the raw clients: every read waits at most so long.
 *
 * @module
 */

/** How long a read waits for the server, in milliseconds, unless told. */
export const DEFAULT_READ_TIMEOUT_MS = 5000;

/** Options for a wait. */
export interface WaitOptions {
  /**
   * Milliseconds before the wait fails with `Deno.errors.TimedOut`.
   *
   * @default {5000}
   */
  timeoutMs?: number;
}

/**
 * Settles like `promise`, or rejects with `Deno.errors.TimedOut` naming
 * `what` after `ms`. The timer is always cleared, so the op sanitizer stays
 * quiet; the caller ends whatever `promise` still waits on (closes the
 * connection, say).
 *
 * @throws {Deno.errors.TimedOut} `Timed out after 5000 ms waiting for <what>`
 * @example Bound a read
 * ```ts ignore
 * const n = await withDeadline(conn.read(chunk), 1000, "the 101 response");
 * ```
 */
export function withDeadline<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Deno.errors.TimedOut(
            `Timed out after ${ms} ms waiting for ${what}`,
          ),
        ),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
