/**
 * `deno task soak --overload`: the attacks of issue #20 as soak phases, each
 * against a fresh service under `deno task start` and under `deno task
 * serve`, with one and with four attackers (127.0.1.x), while one bystander
 * (127.0.0.3) echoes every 100 ms and reconnects at once when closed. Each
 * attacker tries three times (refused ones stop); a try ends when the server
 * cuts it, at its byte budget (fragments) or after 15 s (floods, split
 * attacks: `splitFragments`, `splitEmptyFlood`). Prints a
 * markdown table: peak RSS of the server's processes, the bystander's worst
 * gap, incidents and recycles (from `/metrics`), the bystander's reconnects
 * and refusals, the attackers' statuses on their last try and on each try
 * in order, and whether the server is still alive.
 *
 * Peak RSS is the service's own: the processes `deno task` started, not the
 * task runner itself (~22 MiB) nor the service's `ss` children (each read the
 * service's RSS again until it exec'd), both counted before stop 38. Each
 * phase's service log (stdout and stderr) goes to
 * `bench/results/overload-<time>-<phase>-<task>-x<attackers>.log`: the
 * incident lines say who was struck and listed, the refusals whom.
 *
 * MAX_RSS_BYTES is 256 MiB here so a phase costs hundreds of MiB, not GiB.
 *
 * @module
 */
import {
  type AttackResult,
  controlFlood,
  endlessFragments,
  resetUpgrades,
  splitEmptyFlood,
  splitFragments,
  type SplitResult,
  unansweredClose,
} from "../overload_attacks.ts";
import { startBystander } from "../overload_bystander.ts";
import { ROOT } from "../service.ts";
import { freePort } from "../wire.ts";
import { HOST } from "./shared.ts";

const MiB = 1024 * 1024;
const MAX_RSS = 256 * MiB;
const FRAGMENT_BUDGET = 640 * MiB;

/** One attack: one try from `address`. */
type Attack = (port: number, address: string) => Promise<AttackResult>;

/** The phases, by name. */
export const OVERLOAD_PHASES: Record<string, Attack> = {
  fragments: (port, address) =>
    endlessFragments(port, address, FRAGMENT_BUDGET),
  pong_flood: (port, address) => controlFlood(port, address, "pong", 15_000),
  empty_flood: (port, address) => controlFlood(port, address, "empty", 15_000),
  unanswered_close: (port, address) =>
    unansweredClose(port, address, FRAGMENT_BUDGET),
  // 32 connections x 1.9 MiB of an endless message, each under its
  // allowance, held 15 s (a recycle's 1013 does not end them).
  split_fragments: async (port, address) =>
    splitOutcome(
      await splitFragments(port, [address], 32, 1.9 * MiB, { ms: 15_000 }),
    ),
  // Empty frames, 16 connections at a time, each from a fresh address of
  // the attacker's own /24 (127.6N.0.0/24), 1.5 MiB each, for 15 s.
  split_empty: async (port, address) => {
    const network = `127.${60 + Number(address.split(".")[3])}.0`;
    let next = 0;
    return splitOutcome(
      await splitEmptyFlood(port, () => `${network}.${1 + (next++ % 250)}`, {
        parallel: 16,
        perConnection: 1.5 * MiB,
        ms: 15_000,
      }),
    );
  },
  reset_upgrades: async (port, address) => {
    const statuses = await resetUpgrades(port, address, 80);
    const refused = statuses.get(429) ?? 0;
    return { status: refused > 0 ? 429 : 0, sentBytes: 0, cut: true };
  },
};

/** A split attack's try as one result: 429 when every upgrade was refused. */
function splitOutcome(result: SplitResult): AttackResult {
  const upgraded = result.statuses.get(101) ?? 0;
  const refused = result.statuses.get(429) ?? 0;
  return {
    status: upgraded > 0 ? 101 : refused > 0 ? 429 : 0,
    sentBytes: result.sentBytes,
    cut: true,
  };
}

/** One phase's figures. */
export interface OverloadFigures {
  phase: string;
  mode: "start" | "serve";
  attackers: number;
  peakRssMiB: number;
  bystanderWorstGapMs: number;
  bystanderReconnects: number;
  bystanderRefused: number;
  incidents: number;
  recycles: number;
  lastTryStatuses: string;
  /**
   * Each attacker's statuses in order, `101 503 101` (0: no answer), by
   * address: a `503` is the memory guard's refusal before it admitted
   * again after an abort, not the suspect list's `429`.
   */
  tries: string;
  alive: boolean;
}

/**
 * The RSS of the processes `pid` (the task runner) started: the service,
 * in bytes; not `pid`'s own, nor the service's own children. Those are
 * `ss` and `prlimit`, spawned with the parent's memory shared until they
 * exec (`posix_spawn`, CLONE_VM): a sample in that instant read the
 * service's RSS twice (fragments under serve, 4 attackers: 619 MiB with
 * them, 327 MB in the service's own incident lines).
 */
function serviceRss(pid: number): number {
  let total = 0;
  for (const child of childrenOf(pid)) total += ownRss(child);
  return total;
}

/** `pid`'s child processes; none once it is gone. */
function childrenOf(pid: number): number[] {
  try {
    const children = Deno.readTextFileSync(
      `/proc/${pid}/task/${pid}/children`,
    ).trim();
    return children ? children.split(" ").map(Number) : [];
  } catch {
    return [];
  }
}

/** The RSS of `pid` alone (VmRSS), in bytes; 0 once it is gone. */
function ownRss(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0; // Gone.
  }
}

async function metric(port: number, pattern: RegExp): Promise<number> {
  try {
    const text = await (await fetch(`http://${HOST}:${port}/metrics`)).text();
    let sum = 0;
    for (const match of text.matchAll(pattern)) sum += Number(match[1]);
    return sum;
  } catch {
    return -1;
  }
}

/**
 * Writes `child`'s stdout and stderr to
 * `bench/results/overload-<time>-<name>.log`; resolves when both have ended.
 */
async function keepLog(child: Deno.ChildProcess, name: string): Promise<void> {
  const results = new URL("../results/", import.meta.url);
  await Deno.mkdir(results, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const file = await Deno.open(
    new URL(`overload-${stamp}-${name}.log`, results),
    { write: true, create: true, append: true },
  );
  const write = async (stream: ReadableStream<Uint8Array>) => {
    for await (let chunk of stream) {
      while (chunk.length > 0) chunk = chunk.subarray(await file.write(chunk));
    }
  };
  try {
    await Promise.all([write(child.stdout), write(child.stderr)]);
  } finally {
    file.close();
  }
}

/** Runs one phase against a fresh service; resolves with its figures. */
export async function runOverloadPhase(
  phase: string,
  mode: "start" | "serve",
  attackers: number,
): Promise<OverloadFigures> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", mode],
    cwd: ROOT,
    env: {
      PORT: String(port),
      BIND_ADDRESS: HOST,
      MAX_RSS_BYTES: String(MAX_RSS),
      NO_COLOR: "1",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const logged = keepLog(child, `${phase}-${mode}-x${attackers}`);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const deadline = performance.now() + 60_000;
  for (;;) {
    try {
      await (await fetch(`http://${HOST}:${port}/healthz`)).body?.cancel();
      break;
    } catch {
      if (exited || performance.now() > deadline) {
        throw new Error(`The ${mode} server did not start`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, serviceRss(child.pid));
  }, 50);
  const bystander = startBystander(port, "127.0.0.3");
  const attack = OVERLOAD_PHASES[phase]!;
  const last: number[] = [];
  const tries: string[] = [];
  await Promise.all(
    Array.from({ length: attackers }, async (_, i) => {
      const address = `127.0.1.${i + 2}`;
      let result: AttackResult = { status: 0, sentBytes: 0, cut: true };
      const statuses: number[] = [];
      for (let try_ = 0; try_ < 3; try_++) {
        result = await attack(port, address);
        statuses.push(result.status);
        if (result.status === 429) break;
      }
      last.push(result.status);
      tries[i] = `.${i + 2} ${statuses.join(" ")}`;
    }),
  );
  // The bystander's last reconnect after the attack, if any; a leaked
  // upgrade counts once the loop has been prompt for 2 s after it
  // (STUCK_UPGRADE_MS, `lib/start/prompt_clock.ts`), checked every second.
  await new Promise((resolve) =>
    setTimeout(resolve, phase === "reset_upgrades" ? 6000 : 2000)
  );
  const report = await bystander.stop();
  clearInterval(sampler);
  const incidents = await metric(
    port,
    /ws_echo_overload_incidents_total\{[^}]*\} (\d+)/g,
  );
  const recycles = await metric(port, /ws_echo_listener_recycles_total (\d+)/g);
  const alive = !exited;
  try {
    child.kill("SIGTERM");
  } catch {
    // Exited already.
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Exited.
    }
  }, 10_000);
  await status;
  clearTimeout(timer);
  await logged;
  const statuses = new Map<number, number>();
  for (const s of last) statuses.set(s, (statuses.get(s) ?? 0) + 1);
  return {
    phase,
    mode,
    attackers,
    peakRssMiB: Math.round(peak / MiB),
    bystanderWorstGapMs: Math.round(report.worstGapMs),
    bystanderReconnects: report.reconnects,
    bystanderRefused: [...report.refusals.values()].reduce((a, b) => a + b, 0),
    incidents,
    recycles,
    lastTryStatuses: [...statuses].map(([s, n]) => `${n}× ${s || "none"}`)
      .join(", "),
    tries: tries.join("; "),
    alive,
  };
}

/** Every phase, both modes, one and four attackers; a markdown table. */
export async function runOverloadSoak(
  phases: string[] = Object.keys(OVERLOAD_PHASES),
  modes: Array<"start" | "serve"> = ["start", "serve"],
): Promise<{ figures: OverloadFigures[]; table: string }> {
  const figures: OverloadFigures[] = [];
  for (const phase of phases) {
    for (const mode of modes) {
      for (const attackers of [1, 4]) {
        console.error(`overload: ${phase} ${mode} ×${attackers}`);
        figures.push(await runOverloadPhase(phase, mode, attackers));
      }
    }
  }
  const rows = figures.map((f) =>
    `| ${f.phase} | ${f.mode} | ${f.attackers} | ${f.peakRssMiB} | ${f.bystanderWorstGapMs} | ${f.incidents} | ${f.recycles} | ${f.bystanderReconnects} | ${f.bystanderRefused} | ${f.lastTryStatuses} | ${f.tries} | ${
      f.alive ? "yes" : "no"
    } |`
  );
  const table = [
    "| Phase | Task | Attackers | Peak service RSS MiB | Bystander worst gap ms | Incidents | Recycles | Bystander reconnects | Bystander refused | Attackers' last try | Each attacker's tries | Alive |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
  return { figures, table };
}

if (import.meta.main) {
  const phases = Deno.args.filter((arg) => arg in OVERLOAD_PHASES);
  const modes = Deno.args.filter((arg) => arg === "start" || arg === "serve");
  const { table } = await runOverloadSoak(
    phases.length ? phases : undefined,
    modes.length ? modes as Array<"start" | "serve"> : undefined,
  );
  console.log(table);
}
