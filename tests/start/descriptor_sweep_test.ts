/**
 * The descriptor sweep (`lib/start/descriptor_sweep.ts`): when accepting
 * fails for want of descriptors, connections that never got an answer
 * (two looks 10 s apart) and kept-alive ones idle for 2 s are aborted,
 * never this process's WebSockets; and the service under `prlimit
 * --nofile=128:128`, run out by kept-alive `/healthz` answers, answers
 * `/healthz` again (Deno has no keep-alive timeout: before, it never did).
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  DescriptorSweep,
  HEAD_WAIT_MS,
  KEPT_ALIVE_IDLE_MS,
  SWEEP_LOOK_MS,
  sweptSockets,
} from "../../lib/start/descriptor_sweep.ts";
import type { AbortAnswer } from "../../lib/connection/held_sockets.ts";
import type { Activity, Closable } from "../../lib/admission/slots.ts";
import { startTaskArgs } from "../_server.ts";
import { openWebSocket, until } from "../_client.ts";
import { type LimitedChild, spawnLimited } from "../_limited.ts";
import { readResponse, withDeadline, writeAll } from "../../bench/wire.ts";

/** One `ss -tinH` socket of port 80 from `peer` (`host:port`). */
function line(
  peer: string,
  info: { sent?: number; lastsnd?: number; lastrcv?: number; sendQ?: number },
): string {
  const fields = [
    info.sent === undefined ? "" : `bytes_sent:${info.sent}`,
    info.lastsnd === undefined ? "" : `lastsnd:${info.lastsnd}`,
    info.lastrcv === undefined ? "" : `lastrcv:${info.lastrcv}`,
  ].join(" ");
  return `0 ${info.sent ? info.sendQ ?? 0 : 0} 127.0.0.1:80 ${peer}\n` +
    `\t cubic ${fields}\n`;
}

/** A sweep over a listing the test sets, on a clock it moves. */
function sweepOf(options: {
  portOwned?: boolean;
  pingIntervalMs?: number;
  own?: string[];
}) {
  const state = { now: 0, listing: "", aborted: [] as string[] };
  const own = (options.own ?? []).map((peer): [Closable, string] => {
    const [hostname, port] = peer.split(":");
    const activity = { peer: { hostname, port: Number(port) } } as Activity;
    return [{ close() {}, activity: () => activity }, "key"];
  });
  const sweep = new DescriptorSweep({ connections: () => own }, {
    list: () => Promise.resolve(state.listing),
    abort: {
      abort(peers): Promise<AbortAnswer> {
        state.aborted.push(...peers.map((p) => `${p.hostname}:${p.port}`));
        return Promise.resolve({ aborted: peers.length, left: new Set() });
      },
    },
    now: () => state.now,
    ...options,
  });
  return { sweep, state };
}

Deno.test("sweptSockets() reads each socket's answer and idle times", () => {
  const [answered, head] = sweptSockets(
    line("127.0.0.2:5", { sent: 120, lastsnd: 3000, lastrcv: 3100 }) +
      line("[::1]:6", { lastrcv: 20 }),
  );
  assert.deepEqual(answered, {
    peer: "127.0.0.2:5",
    addr: { transport: "tcp", hostname: "127.0.0.2", port: 5 },
    recvQ: 0,
    sendQ: 0,
    answered: true,
    lastSent: 3000,
    lastReceived: 3100,
  });
  assert.equal(head!.peer, "::1:6");
  assert.equal(head!.answered, false);
  assert.equal(head!.lastSent, Infinity);
});

Deno.test("DescriptorSweep aborts what holds a descriptor doing nothing, when short", async (t) => {
  await t.step(
    "a connection with no answer at two looks 10 s apart is aborted, not sooner",
    async () => {
      const { sweep, state } = sweepOf({ portOwned: true });
      state.listing = line("127.0.0.9:1", { lastrcv: 10 });
      await sweep.short();
      state.now = HEAD_WAIT_MS - SWEEP_LOOK_MS;
      await sweep.short();
      assert.deepEqual(state.aborted, []);
      state.now = HEAD_WAIT_MS;
      await sweep.short();
      assert.deepEqual(state.aborted, ["127.0.0.9:1"]);
      assert.equal(sweep.aborted.head, 1);
    },
  );
  await t.step(
    "one answered in between starts again from its next unanswered look",
    async () => {
      const { sweep, state } = sweepOf({ portOwned: true });
      state.listing = line("127.0.0.9:1", {});
      await sweep.short();
      state.now = 5000;
      state.listing = "";
      await sweep.short();
      state.now = HEAD_WAIT_MS;
      state.listing = line("127.0.0.9:1", {});
      await sweep.short();
      assert.deepEqual(state.aborted, []);
    },
  );
  await t.step(
    "kept alive and idle 2 s both ways: aborted at once; busier or queued: kept",
    async () => {
      const { sweep, state } = sweepOf({ portOwned: true });
      const idle = KEPT_ALIVE_IDLE_MS;
      state.listing =
        line("127.0.0.2:1", { sent: 9, lastsnd: idle, lastrcv: idle }) +
        line("127.0.0.2:2", { sent: 9, lastsnd: idle - 1, lastrcv: idle }) +
        line("127.0.0.2:3", { sent: 9, lastsnd: idle, lastrcv: idle - 1 }) +
        line("127.0.0.2:4", {
          sent: 9,
          lastsnd: idle,
          lastrcv: idle,
          sendQ: 7,
        });
      await sweep.short();
      assert.deepEqual(state.aborted, ["127.0.0.2:1"]);
      assert.equal(sweep.aborted.keptAlive, 1);
    },
  );
  await t.step("this process's WebSockets are never aborted", async () => {
    const { sweep, state } = sweepOf({
      portOwned: true,
      own: ["127.0.0.2:1", "127.0.0.2:2"],
    });
    state.listing =
      line("127.0.0.2:1", { sent: 9, lastsnd: 9e6, lastrcv: 9e6 }) +
      line("127.0.0.2:2", {});
    await sweep.short();
    state.now = HEAD_WAIT_MS;
    await sweep.short();
    assert.deepEqual(state.aborted, []);
  });
  await t.step(
    "under deno serve an idle connection must outlast the ping interval (another worker's WebSocket looks alike)",
    async () => {
      const { sweep, state } = sweepOf({ pingIntervalMs: 30_000 });
      state.listing =
        line("127.0.0.2:1", { sent: 9, lastsnd: 34_999, lastrcv: 9e6 }) +
        line("127.0.0.2:2", { sent: 9, lastsnd: 35_000, lastrcv: 35_000 });
      await sweep.short();
      assert.deepEqual(state.aborted, ["127.0.0.2:2"]);
      const off = sweepOf({ pingIntervalMs: 0 });
      off.state.listing = line("127.0.0.2:1", {
        sent: 9,
        lastsnd: 9e6,
        lastrcv: 9e6,
      });
      await off.sweep.short();
      assert.deepEqual(off.state.aborted, []);
    },
  );
  await t.step(
    "under deno serve what this worker answered goes after 2 s idle, as under start",
    async () => {
      const { sweep, state } = sweepOf({ pingIntervalMs: 30_000 });
      sweep.answered({ transport: "tcp", hostname: "127.0.0.2", port: 1 });
      const idle = { sent: 9, lastsnd: KEPT_ALIVE_IDLE_MS, lastrcv: 9e6 };
      state.listing = line("127.0.0.2:1", idle) + line("127.0.0.2:2", idle);
      await sweep.short();
      assert.deepEqual(state.aborted, ["127.0.0.2:1"]);
    },
  );
  await t.step(
    "without CAP_NET_ADMIN nothing is aborted, and that is said once",
    async () => {
      const lines: Record<string, unknown>[] = [];
      let now = 0;
      let looks = 0;
      const sweep = new DescriptorSweep({ connections: () => [] }, {
        list: () =>
          Promise.resolve(
            line("127.0.0.2:1", { sent: 9, lastsnd: 9e6, lastrcv: 9e6 }),
          ),
        abort: {
          // `ss -K` lists what it was refused as if destroyed.
          abort: (peers) => {
            looks++;
            return Promise.resolve({
              aborted: peers.length,
              left: new Set(),
              refused: "SOCK_DESTROY: Operation not permitted",
            });
          },
        },
        portOwned: true,
        log: (record) => lines.push(record),
        now: () => now,
      });
      await sweep.short();
      now = SWEEP_LOOK_MS;
      await sweep.short();
      assert.deepEqual(lines, [{
        event: "descriptors_swept",
        heads: 0,
        keptAlive: 1,
        aborted: 0,
        left: 1,
        reason: "SOCK_DESTROY: Operation not permitted",
      }]);
      assert.equal(sweep.aborted.keptAlive, 0);
      assert.equal(looks, 1, "no look after the refusal");
    },
  );
  await t.step(
    "what this worker answered is remembered for the latest 8,192 requests at least, 16,384 at most",
    async () => {
      const idle = { sent: 9, lastsnd: KEPT_ALIVE_IDLE_MS, lastrcv: 9e6 };
      const after = async (others: number) => {
        const { sweep, state } = sweepOf({ pingIntervalMs: 30_000 });
        sweep.answered({ transport: "tcp", hostname: "127.0.0.2", port: 1 });
        for (let port = 1; port <= others; port++) {
          sweep.answered({ transport: "tcp", hostname: "127.0.0.3", port });
        }
        state.listing = line("127.0.0.2:1", idle);
        await sweep.short();
        return state.aborted.length;
      };
      assert.equal(await after(8_191), 1);
      assert.equal(await after(16_383), 1);
      assert.equal(await after(16_384), 0);
    },
  );
  await t.step("at most one look a second", async () => {
    const { sweep, state } = sweepOf({ portOwned: true });
    let looks = 0;
    const listing = line("127.0.0.2:1", {
      sent: 9,
      lastsnd: 9e6,
      lastrcv: 9e6,
    });
    Object.defineProperty(state, "listing", {
      get: () => (looks++, listing),
    });
    await Promise.all([sweep.short(), sweep.short()]);
    state.now = SWEEP_LOOK_MS - 1;
    await sweep.short();
    assert.equal(looks, 1);
    state.now = SWEEP_LOOK_MS;
    await sweep.short();
    assert.equal(looks, 2);
  });
});

/** The sweep's lines: how many each says it aborted. */
function sweptCounts(stdout: string): number[] {
  const said = /descriptors swept heads=\d+ kept_alive=\d+ aborted=(\d+)/g;
  return [...stdout.matchAll(said)].map((found) => Number(found[1]));
}

/**
 * A connection that got one `/healthz` answer (200, or 503 while the
 * listener keeps failing) and is kept open, idle.
 */
async function keptAlive(port: number): Promise<Deno.TcpConn> {
  const conn = await withDeadline(
    Deno.connect({ hostname: "127.0.0.1", port }),
    5000,
    "connect",
  );
  try {
    await writeAll(
      conn,
      new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
    );
    const response = await readResponse(conn, { timeoutMs: 5000 });
    assert.ok(response.status === 200 || response.status === 503);
    return conn;
  } catch (error) {
    conn.close();
    throw error;
  }
}

/** 200 once `/healthz` answers on a fresh connection, or the error's name. */
async function healthz(port: number): Promise<number | string> {
  try {
    const conn = await keptAlive(port);
    conn.close();
    return 200;
  } catch (error) {
    return (error as Error).name;
  }
}

/**
 * How a kept connection ends as its client reads it: "reset" (an abort
 * through the kernel, `ss -K`), "closed" (the server closed it, FIN),
 * "data", or the error's name ("BadResource"/"Interrupted" once the test
 * closes it).
 */
function ending(conn: Deno.TcpConn): Promise<string> {
  return conn.read(new Uint8Array(64)).then(
    (read) => read === null ? "closed" : "data",
    (error: Error) =>
      error instanceof Deno.errors.ConnectionReset ? "reset" : error.name,
  );
}

Deno.test({
  name:
    "kept-alive answers that take every descriptor are reset by the sweep: /healthz answers again and a WebSocket stays",
  async fn() {
    // PATH: the start task's `ss` and `prlimit` are found on it.
    await using child: LimitedChild = await spawnLimited(
      128,
      await startTaskArgs(),
      { env: { PATH: Deno.env.get("PATH") ?? "" } },
    );
    const socket = await withDeadline(
      openWebSocket(`ws://127.0.0.1:${child.port}/echo`),
      5000,
      "a WebSocket before",
    );
    const closed = new Promise((resolve) => socket.onclose = resolve);
    const kept: Deno.TcpConn[] = [];
    const endings: Promise<string>[] = [];
    const ended = new Map<string, number>();
    let first = Infinity;
    let firstEnded = 0;
    const keep = (conn: Deno.TcpConn) => {
      const place = kept.push(conn);
      endings.push(
        ending(conn).then((how) => {
          ended.set(how, (ended.get(how) ?? 0) + 1);
          if (place <= first) firstEnded++;
          return how;
        }),
      );
    };
    try {
      // Until one fails: descriptors ran out (at most 128 can be held). A
      // failed accept alone does not keep the process full: in a run at 21:21
      // one descriptor was free again right after it (127 of 128 in use), so
      // /healthz answered with nothing swept, the sweep's one look having
      // found none idle 2 s. So the test does not wait for /healthz: it
      // waits for its own first connections to be reset.
      for (let i = 0; i < 160; i++) {
        try {
          keep(await keptAlive(child.port));
        } catch {
          break;
        }
      }
      first = kept.length;
      assert.ok(first > 40, `held ${first}`);
      // Each held on the first listener, which is never retired: without
      // the sweep nothing ends them (Deno has no keep-alive timeout). More
      // kept-alive connections run the process out again, and each accept
      // failure lets the sweep look (once a second) until these have been
      // idle 2 s and are aborted.
      const pause = () => new Promise((resolve) => setTimeout(resolve, 100));
      const deadline = performance.now() + 20_000;
      while (firstEnded < first) {
        assert.ok(
          performance.now() < deadline && kept.length < 400,
          `the first ${first} kept alive not all ended after 20 s and ` +
            `${kept.length - first} more: ${JSON.stringify([...ended])}; ` +
            `sweep lines ${JSON.stringify(sweptCounts(child.stdout()))}`,
        );
        try {
          keep(await keptAlive(child.port));
        } catch {
          // Out of descriptors (or the listener is down): the sweep looks.
          await pause();
        }
      }
      const firstEndings = await Promise.all(endings.slice(0, first));
      assert.deepEqual(
        firstEndings.filter((how) => how !== "reset"),
        [],
        "the first kept alive were reset (ss -K), not closed",
      );
      // Its line is written once `ss -K` has answered, after the resets.
      await until(
        () => sweptCounts(child.stdout()).reduce((a, b) => a + b, 0) >= first,
        `the sweep's lines to count ${first} aborted`,
        { timeoutMs: 10_000 },
      );
      // The later ones still held: the freed descriptors serve newcomers.
      const answered = performance.now() + 10_000;
      let said: number | string;
      while ((said = await healthz(child.port)) !== 200) {
        assert.ok(
          performance.now() < answered,
          `/healthz unanswered 10 s after the sweep: ${said}`,
        );
        await pause();
      }
      assert.equal(socket.readyState, WebSocket.OPEN);
      assert.equal(child.exited(), false);
    } finally {
      for (const conn of kept) conn.close();
      await Promise.all(endings);
      socket.close();
      await withDeadline(closed, 5000, "WebSocket closed");
    }
  },
});
