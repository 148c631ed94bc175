/**
 * The open-file limit under least privilege, from util-linux's `prlimit`.
 * Deno 2.9 reads anything under `/proc` only with `--allow-all`
 * (`check_special_file` in runtime/permissions/lib.rs: `/proc`, `/dev` and
 * `/sys` need every permission, `--allow-read=/proc/self/limits` included),
 * so the tasks' permission set runs `prlimit` instead (`"run": ["ss",
 * "prlimit"]` in deno.json). The child inherits the limit in force: Deno
 * raised the soft limit to the hard one at start-up (`raise_fd_limit` in
 * cli/util/unix.rs), so the child's soft limit is the process's (measured:
 * `prlimit --nofile=256:1024 deno run --allow-run=prlimit` read `1024
 * 1024`).
 *
 * Running it costs the first `Deno.Command` of the process, 8-12 ms of CPU
 * to load Deno's process module plus 2-4 ms per spawn (measured with
 * `Deno.cpuUsage()`, load 8), so the entry points ask after listening
 * (`learned_cap.ts`), not on the cold-start path.
 *
 * @module
 */
import * as z from "zod/mini";
import type { OpenFileLimit } from "./fd_limit.ts";
import { after } from "../core_timer.ts";
import type { DescriptorReserve } from "./descriptor_reserve.ts";
import { isDescriptorExhaustion } from "../os_errors.ts";
import { lazy } from "../lazy.ts";

/** How long `prlimit` may take before the limit counts as unknown, in ms. */
export const PRLIMIT_TIMEOUT_MS = 5000;

/**
 * `prlimit --nofile --raw --noheadings --output=SOFT,HARD`'s output: one
 * line, the soft then the hard limit, each a count or `unlimited`. Built on
 * first use, so nothing of it runs at start-up.
 */
const prlimitSchema = lazy(() =>
  z.string().check(
    z.regex(/^[ \t]*(\d{1,15}|unlimited)[ \t]+(\d{1,15}|unlimited)[ \t]*\n?$/),
  )
);

/**
 * Parses what `prlimit --nofile --raw --noheadings --output=SOFT,HARD`
 * printed.
 *
 * @param text Its standard output.
 * @returns The soft and hard limits (`Infinity` for `unlimited`), or
 * undefined when the text is anything else.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePrlimit } from "./prlimit.ts";
 * assert.deepEqual(parsePrlimit("256 1024\n"), { soft: 256, hard: 1024 });
 * assert.equal(parsePrlimit("prlimit: unknown option"), undefined);
 * ```
 */
export function parsePrlimit(text: string): OpenFileLimit | undefined {
  const line = prlimitSchema().safeParse(text);
  if (!line.success) return undefined;
  const [soft, hard] = line.data.trim().split(/[ \t]+/).map((field) =>
    field === "unlimited" ? Infinity : Number(field)
  );
  return { soft: soft!, hard: hard! };
}

/** Options for {@link askPrlimit}; all optional. */
export interface AskPrlimitOptions {
  /** The program to run. @default "prlimit" */
  command?: string;
  /** The operating system. @default Deno.build.os */
  os?: typeof Deno.build.os;
  /** Longest wait for its answer, in ms. @default PRLIMIT_TIMEOUT_MS */
  timeoutMs?: number;
  /**
   * Descriptors lent to the spawn (`descriptor_reserve.ts`, the ones held
   * for `ss`), so it runs when clients have taken every other one.
   */
  reserve?: DescriptorReserve | undefined;
  /**
   * True when the caller has found {@link mayAskPrlimit} true for the same
   * `command` and `os`: the permission is not queried again (`learnCap`
   * asks once, then asks `prlimit` up to every retry). @default false
   */
  permitted?: boolean;
}

/**
 * What {@link askPrlimit} answers when the spawn failed for lack of
 * descriptors (EMFILE, ENFILE): the limit is knowable, the process was out
 * of descriptors at that moment, so asking again later may answer.
 */
export const OUT_OF_DESCRIPTORS = "out of descriptors";

/**
 * True when this process may ask `prlimit`: on Linux, with the `run`
 * permission for it (granted, never prompted for). Never throws.
 */
export function mayAskPrlimit(
  options: Pick<AskPrlimitOptions, "command" | "os"> = {},
): boolean {
  if ((options.os ?? Deno.build.os) !== "linux") return false;
  try {
    const command = options.command ?? "prlimit";
    return Deno.permissions.querySync({ name: "run", command }).state ===
      "granted";
  } catch {
    return false;
  }
}

/**
 * The open-file limit as `prlimit` states it. Never throws and never
 * prompts for a permission: "unknown" off Linux (`prlimit` is util-linux's;
 * macOS, Windows and Deno Deploy keep MAX_CONNECTIONS as set), without the
 * `run` permission for it, when it is not on `PATH`, fails, takes longer
 * than `timeoutMs` or prints anything unexpected;
 * {@link OUT_OF_DESCRIPTORS} when spawning it failed with EMFILE or ENFILE.
 */
export async function askPrlimit(
  options: AskPrlimitOptions = {},
): Promise<OpenFileLimit | "unknown" | typeof OUT_OF_DESCRIPTORS> {
  if (options.permitted !== true && !mayAskPrlimit(options)) {
    return "unknown";
  }
  const command = options.command ?? "prlimit";
  const abort = new AbortController();
  const cancel = after(
    options.timeoutMs ?? PRLIMIT_TIMEOUT_MS,
    () => abort.abort(),
  );
  try {
    const spawn = () =>
      new Deno.Command(command, {
        args: ["--nofile", "--raw", "--noheadings", "--output=SOFT,HARD"],
        stdin: "null",
        stdout: "piped",
        stderr: "null",
        signal: abort.signal,
      }).output();
    const output =
      await (options.reserve ? options.reserve.lendAwaited(spawn) : spawn());
    if (!output.success) return "unknown";
    return parsePrlimit(new TextDecoder().decode(output.stdout)) ?? "unknown";
  } catch (error) {
    return isDescriptorExhaustion(error) ? OUT_OF_DESCRIPTORS : "unknown";
  } finally {
    cancel();
  }
}
