/**
 * `deno task serve` where the process may destroy sockets (CAP_NET_ADMIN):
 * the abort path is wired there as under `deno task start` (serve.ts gives
 * each worker's watch an `SsSocketAbort`), and each worker strikes only its
 * own connections' clients while the suspect list is shared
 * (`lib/admission/suspect_peers.ts`). An attacker that takes a fresh
 * address of one /24 for each endless fragmented message is aborted each
 * time, with no incident ending the process, and its /24, listed at its
 * second incident in whichever worker held it, is refused on the third try
 * by every worker.
 *
 * @module
 */
import assert from "node:assert/strict";
import { openFrom } from "../../bench/overload_attacks.ts";
import { until } from "../_client.ts";
import {
  ATTACK_BYTES,
  ATTACK_BYTES_PER_SECOND,
  attackTwice,
  BYSTANDER,
  CAN_ABORT,
  fragmentsWhenAdmitted,
  startAttackedServe,
} from "./_overload.ts";

/** The rotating attacker's /24, not the bystander's. */
const ROTATING = "127.0.9";

/** One worker's `/healthz` suspects, from a fresh connection each time. */
async function workerSuspects(
  port: number,
): Promise<{ refused: number; listedTotal: number }> {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`, {
    headers: { connection: "close" },
    signal: AbortSignal.timeout(5000),
  });
  const body = await response.json();
  return body.overload.suspects;
}

Deno.test({
  name:
    "deno task serve: an attacker taking a fresh address of one /24 for each endless message is aborted each time, and its /24 is refused on the third try by every worker",
  ignore: !CAN_ABORT,
  async fn() {
    const { port, running, log } = await startAttackedServe();
    const incidents = () =>
      log.records.filter((record) => record.event === "overload_incident");
    try {
      const { report } = await attackTwice(port, async (try_) => {
        const result = await fragmentsWhenAdmitted(
          port,
          `${ROTATING}.${20 + try_}`,
          ATTACK_BYTES,
          { bytesPerSecond: ATTACK_BYTES_PER_SECOND },
        );
        assert.equal(result.status, 101, `try ${try_}`);
        assert.ok(result.cut, `try ${try_} cut`);
        await until(
          () =>
            incidents().filter((record) => record.action === "aborted")
              .length >= try_,
          `try ${try_}'s abort logged`,
          { timeoutMs: 30_000 },
        ).catch((error) => {
          throw new Error(`${error.message}: ${JSON.stringify(incidents())}`);
        });
      });
      const told = JSON.stringify(incidents());
      assert.ok(
        incidents().every((record) =>
          ["aborted", "reported"].includes(String(record.action))
        ),
        `no incident ended the process: ${told}`,
      );
      // Aborts close nobody else: the bystander keeps its connection.
      assert.equal(report.closes.size, 0, `bystander closed: ${told}`);
      assert.ok(
        !incidents().some((record) =>
          String(record.struck).includes(BYSTANDER)
        ),
        told,
      );
      const third = await openFrom(port, `${ROTATING}.23`);
      third.socket.destroy();
      assert.equal(third.status, 429, told);
      // The worker that listed the /24 counts the listing; the other
      // refuses it too, having been told. Deno hands each connection to a
      // worker: ask until one that listed nothing answers.
      let other: { refused: number; listedTotal: number } | undefined;
      const deadline = performance.now() + 20_000;
      while (other === undefined) {
        assert.ok(performance.now() < deadline, "the other worker's /healthz");
        const suspects = await workerSuspects(port);
        if (suspects.listedTotal === 0) other = suspects;
      }
      assert.ok(other!.refused >= 1, `the other worker refuses: ${told}`);
    } finally {
      await running[Symbol.asyncDispose]();
      await log.ended();
    }
  },
});
