/**
 * A flood of clients that send messages and never read their echoes (issue
 * #20): Deno queues the echoes, and no close frees them while the client
 * stays, so the service must stop queueing before the memory is gone, and
 * must not take what it queued for memory nobody counts (a recycle closes
 * every bystander and frees none of it).
 */
import assert from "node:assert/strict";
import type net from "node:net";
import { clientFrame } from "../../bench/wire.ts";
import { openFrom } from "../../bench/overload_attacks.ts";
import { startBystander } from "../../bench/overload_bystander.ts";
import {
  abortedSockets,
  BYSTANDER,
  CAN_ABORT,
  FIRST_ECHO_MS,
  type LogRecord,
  MAX_RSS,
  MiB,
  peakRss,
  serviceEvidence,
  startAttacked,
} from "./_overload.ts";
import { until } from "../_client.ts";

const ADDRESSES = 4;
const PER_ADDRESS = 8;
const MESSAGES = 8;
const NON_READER = /^127\.0\.42\./;

/** The `ws_close` lines of the non-readers' connections. */
function nonReaderCloses(records: LogRecord[]): LogRecord[] {
  return records.filter((record) =>
    record.event === "ws_close" && NON_READER.test(String(record.ip))
  );
}

/**
 * The service's sockets to the non-readers that may still hold their
 * echoes (established or close-wait), as `ss` lists them.
 */
function heldNonReaders(port: number): string[] {
  const output = new Deno.Command("ss", {
    args: [
      "-tnH",
      "state",
      "established",
      "state",
      "close-wait",
      `( sport = :${port} and dst 127.0.42.0/24 )`,
    ],
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  assert.ok(output.success, "ss lists the service's sockets");
  return new TextDecoder().decode(output.stdout).split("\n")
    .filter((line) => line.trim() !== "");
}

/** Connections the service closed for holding too much, from `/metrics`. */
async function closedForMemory(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, {
    signal: AbortSignal.timeout(5000),
  })).text();
  let sum = 0;
  for (const reason of ["slow_reader", "memory_budget", "rss"]) {
    const line = new RegExp(
      `^ws_echo_limit_breaches_total\\{reason="${reason}"\\} (\\d+)$`,
      "m",
    ).exec(text);
    sum += Number(line?.[1] ?? 0);
  }
  return sum;
}

Deno.test(
  "clients that send 8 MiB each and never read are closed with no recycle, RSS stays under MAX_RSS_BYTES, and the bystander keeps echoing",
  async () => {
    await using service = await startAttacked({
      MEMORY_BUDGET_BYTES: String(48 * MiB),
      // The stall rule is not what this is about: on a loaded machine the
      // process busy reading 256 MiB of messages can look like a flood of
      // frames (issue #20's stall false positives).
      EVENT_LOOP_STALL_MS: "0",
      // Where `ss -K` may not destroy sockets, the closes the non-readers
      // never get are given up after this, and the recycle that frees them
      // is the unanswered-closes rule's, not this test's subject.
      CLOSE_TIMEOUT_SECONDS: "120",
      // Nor is Deno's ping timeout: a client that never reads answers no
      // ping, and is dropped 1001 once PING_INTERVAL_SECONDS pass with no
      // message from it. At load 33 the held loop had let the app see none
      // of 7 non-readers' messages in 35 s (7 closes 1001, 0 messages):
      // not a limit this service keeps on memory (an attacker can send
      // pongs unasked to stay), so the test keeps it out of the way.
      PING_INTERVAL_SECONDS: "0",
    });
    const bystander = startBystander(service.port, BYSTANDER);
    const sockets: net.Socket[] = [];
    try {
      await until(() => bystander.report.echoes > 0, "the bystander's echo", {
        timeoutMs: FIRST_ECHO_MS,
      });
      for (let address = 1; address <= ADDRESSES; address++) {
        for (let i = 0; i < PER_ADDRESS; i++) {
          const opened = await openFrom(service.port, `127.0.42.${address}`);
          opened.socket.on("error", () => {});
          sockets.push(opened.socket);
          assert.equal(opened.status, 101);
          // Never read: the echoes pile up in the server.
          opened.socket.pause();
        }
      }
      if (CAN_ABORT) {
        // The listing below sees them, so its empty answer later means gone.
        assert.equal(heldNonReaders(service.port).length, sockets.length);
      }
      const frame = clientFrame(0x2, new Uint8Array(MiB));
      for (const socket of sockets) {
        for (let m = 0; m < MESSAGES; m++) socket.write(frame);
      }
      const deadline = Date.now() + 60_000;
      let closed = 0;
      while (
        (closed = await closedForMemory(service.port).catch(() => closed)) <
          sockets.length
      ) {
        if (Date.now() >= deadline) {
          // "28 closed; incidents []" at load ~25 said too little: which
          // rule closed whom, what the budget held, what the kernel holds.
          assert.fail(
            `every non-reader closed by the service within 60 s: ${closed} closed; ${
              CAN_ABORT
                ? `held by the kernel: ${
                  heldNonReaders(service.port).join("; ")
                }; `
                : ""
            }${await serviceEvidence(service.port, service.records)}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      if (CAN_ABORT) {
        // Their Close waits behind echoes they never read: the kernel
        // aborts their connections (a `sockets_aborted` line), or one whose
        // echoes all fitted in the kernel's buffers leaves the states that
        // hold anything. Either way none is left open on the service's side.
        const deadline = Date.now() + 30_000;
        let open: string[];
        while ((open = heldNonReaders(service.port)).length > 0) {
          assert.ok(
            Date.now() < deadline,
            `every non-reader's connection gone from the service within 30 s: ${open.length} of ${sockets.length} left (${
              abortedSockets(service.records)
            } aborted): ${open.join("; ")}`,
          );
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
      const echoes = bystander.report.echoes;
      await until(
        () => bystander.report.echoes > echoes,
        "the bystander to echo after the flood",
        { timeoutMs: 5_000 },
      );
    } finally {
      for (const socket of sockets) socket.destroy();
    }
    const report = await bystander.stop();
    const recycled = service.records.filter((record) =>
      record.event === "overload_incident" && record.action === "recycled"
    );
    assert.deepEqual(recycled, [], "no recycle");
    assert.equal(report.closes.get(1013), undefined, "the bystander stayed");
    const peak = peakRss(service.running);
    assert.ok(
      peak <= MAX_RSS,
      `peak RSS ${(peak / MiB).toFixed(0)} MiB, MAX_RSS_BYTES ${
        MAX_RSS / MiB
      } MiB`,
    );
    // Each closed for holding too much: the backlog (1008) or the budget (1013).
    for (const record of nonReaderCloses(service.records)) {
      assert.ok(
        ["slow_reader", "memory_budget", "rss"].includes(String(record.limit)),
        JSON.stringify(record),
      );
    }
  },
);
