/**
 * The service as a child process under a low descriptor limit (`prlimit
 * --nofile=N:N`), with its output collected as it arrives, for the tests of
 * what happens when descriptors run out.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ROOT } from "./_server.ts";
import { until, withDeadline } from "./_client.ts";
import { dieWithParent } from "../bench/parent_death.ts";

/** A child service whose output is collected as it arrives. */
export interface LimitedChild extends AsyncDisposable {
  port: number;
  /** Deno's pid (`prlimit` and `setpriv` exec it): its `/proc/PID/fd`. */
  pid: number;
  stdout: () => string;
  stderr: () => string;
  exited: () => boolean;
  status: Promise<Deno.CommandStatus>;
  kill: (signal: Deno.Signal) => void;
}

/** What {@linkcode spawnLimited} adds to the child. */
export interface LimitedOptions {
  /**
   * Its environment beyond NO_COLOR, PORT=0 and HOSTNAME=127.0.0.1.
   *
   * @default {{}}
   */
  env?: Record<string, string>;
  /**
   * A command run between `prlimit` and Deno that must exec Deno (e.g.
   * `setpriv`).
   *
   * @default {[]}
   */
  prefix?: string[];
}

/**
 * Spawns `deno <args>` under `prlimit --nofile=limit:limit`, PORT=0, and
 * waits (10 s) for its start-up line; `await using` kills it, and so does
 * this process's death.
 *
 * No PATH unless `options.env` gives one, on purpose: under the start
 * task's permissions the child then cannot run `prlimit`, so its open-file
 * limit stays unknown and MAX_CONNECTIONS stays as set, and descriptors
 * really run out: the path exhaustion_test, listener_down_exit_test and
 * descriptor_leak_test's start-task step are about (where the limit cannot
 * be learned: no prlimit, macOS). learned_cap_test passes PATH for the
 * learned cap, and unanswered_closes_test where it runs `ss`.
 *
 * @throws {Deno.errors.TimedOut} When no start-up line comes.
 */
export async function spawnLimited(
  limit: number,
  args: string[],
  options: LimitedOptions = {},
): Promise<LimitedChild> {
  const { env = {}, prefix = [] } = options;
  const child = new Deno.Command("prlimit", {
    args: [
      `--nofile=${limit}:${limit}`,
      ...prefix,
      ...dieWithParent(Deno.execPath(), args).flat(),
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1", PORT: "0", HOSTNAME: "127.0.0.1", ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let err = "";
  let exited = false;
  const status = child.status.then((status) => {
    exited = true;
    return status;
  });
  const pump = async (
    stream: ReadableStream<Uint8Array>,
    add: (text: string) => void,
  ) => {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      add(text);
    }
  };
  const pumps = Promise.all([
    pump(child.stdout, (text) => out += text),
    pump(child.stderr, (text) => err += text),
  ]);
  const dispose = async () => {
    if (!exited) child.kill("SIGKILL");
    await status;
    await pumps;
  };
  try {
    await until(
      () => /ws-echo: page http:\/\/[^:]+:\d+\//.test(out) || exited,
      "start-up line",
      // A bound for a hang, not a timing: `deno task serve` bundles, then
      // each worker makes its watchdog thread before any serves; at load
      // ~27 that passed 10 s in 2 of 5 runs of exhaustion_test (flakes5).
      { timeoutMs: 30_000 },
    );
    const port = Number(out.match(/ws-echo: page http:\/\/[^:]+:(\d+)\//)?.[1]);
    assert.ok(port > 0, `start-up: ${out} ${err}`);
    return {
      port,
      pid: child.pid,
      stdout: () => out,
      stderr: () => err,
      exited: () => exited,
      status,
      kill: (signal) => child.kill(signal),
      [Symbol.asyncDispose]: dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/**
 * One TCP connection to `port` on 127.0.0.1, to be held idle: what runs a
 * limited child out of descriptors.
 *
 * @throws {Deno.errors.TimedOut} When it is not connected within 5 s (a
 * full listen backlog).
 * @throws {Deno.errors.ConnectionRefused} Or another error of Deno's connect,
 * while the child's listener is down.
 */
export function connectIdle(port: number): Promise<Deno.Conn> {
  return withDeadline(
    Deno.connect({ hostname: "127.0.0.1", port }),
    5000,
    "connect",
  );
}
