/**
 * The one-message attack of issue #20, measured: the service at default
 * settings but for `MAX_RSS_BYTES` 256 MiB (`deno task start`'s flags, its
 * own process, `PATH` passed so it finds `ss`), a reading bystander on
 * 127.0.0.3 (a message every 100 ms), and an attacker on 127.0.0.2 that
 * sends "hi", then an endless fragmented message at 100 MiB/s, again
 * whenever it is cut or refused (after 50 ms), for `SECONDS`. Prints the
 * incidents (recycles), the attacker's upgrades and refusals, and the
 * bystander's echoes, 1013 closes, refusals and worst gap. Usage: `deno run
 * -A bench/one_message_attack.ts [SECONDS=30] [PATH_FOR_SERVICE]` (an empty
 * second argument: no `ss`, timing alone).
 *
 * @module
 */
import { endlessFragments } from "./overload_attacks.ts";
import { startBystander } from "./overload_bystander.ts";
import { startService } from "./service.ts";
import { readServiceLog } from "./service_log.ts";
import { clientFrame } from "./wire.ts";

const MiB = 1024 * 1024;
const seconds = Number(Deno.args[0] ?? 30);
const path = Deno.args[1] ?? Deno.env.get("PATH") ?? "";
const hi = clientFrame(0x1, new TextEncoder().encode("hi"));

const service = await startService({
  PORT: "0",
  BIND_ADDRESS: "127.0.0.1",
  LOG_FORMAT: "json",
  MAX_RSS_BYTES: String(256 * MiB),
  PATH: path,
});
const log = readServiceLog(service);
const bystander = startBystander(service.port, "127.0.0.3");
const statuses = new Map<number, number>();
const load = Deno.loadavg()[0]!.toFixed(1);
const until = performance.now() + seconds * 1000;
while (performance.now() < until) {
  const result = await endlessFragments(service.port, "127.0.0.2", 2048 * MiB, {
    bytesPerSecond: 100 * MiB,
    prelude: ({ socket }) => socket.write(hi),
  });
  statuses.set(result.status, (statuses.get(result.status) ?? 0) + 1);
  await new Promise((resolve) => setTimeout(resolve, 50));
}
const report = await bystander.stop();
const incidents = log.records.filter((record) =>
  record.event === "overload_incident"
);
const struck =
  incidents.filter((record) =>
    String(record.struck ?? "").includes("127.0.0.2")
  ).length;
console.log(
  `${seconds} s, load average ${load} -> ${Deno.loadavg()[0]!.toFixed(1)}, ss ${
    path === "" ? "not on PATH" : "on PATH"
  }`,
);
console.log(
  `incidents ${incidents.length} (attacker struck at ${struck}), attacker upgrades by status ${
    JSON.stringify(Object.fromEntries(statuses))
  }`,
);
console.log(
  `bystander: ${report.echoes} echoes (${
    (report.echoes / seconds).toFixed(1)
  }/s), 1013 closes ${report.closes.get(1013) ?? 0}, refusals ${
    JSON.stringify(Object.fromEntries(report.refusals))
  }, worst gap ${(report.worstGapMs / 1000).toFixed(1)} s`,
);
console.log(
  `kernel: ${[...new Set(incidents.map((r) => r.kernel))].join("; ")}`,
);
await service[Symbol.asyncDispose]();
await log.ended();
