import assert from "node:assert/strict";
import { ROOT } from "../_server.ts";
import { withDeadline } from "../_client.ts";

/** Streams held open at once, and the `time` events weighed across. */
const STREAMS = 200;
const TICKS = 5;
/**
 * Live heap each stream may add per `time` event, in bytes. Measured with
 * this test: 35 now, 958 when each tick raced the stream's `ended` promise.
 */
const MAX_HEAP_PER_STREAM_TICK = 300;

/** The heap probe (tests/_heap_probe.ts) as a child: its port and its heap. */
async function startProbe(env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", "tests/_heap_probe.ts"],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stdin = child.stdin.getWriter();
  const readLine = async (what: string) => {
    const { value } = await withDeadline(lines.read(), 20_000, what);
    return Number(value?.trim());
  };
  const port = await readLine("the heap probe's port");
  return {
    port,
    /** Live heap after a full collection, in bytes. */
    async heap(): Promise<number> {
      await stdin.write(new TextEncoder().encode("\n"));
      return await readLine("the heap probe's answer");
    },
    async [Symbol.asyncDispose]() {
      await stdin.close();
      await lines.cancel();
      await withDeadline(child.status, 20_000, "the heap probe to exit");
    },
  };
}

Deno.test("an /sse stream's memory stays constant while it runs: no heap retained per time event", async () => {
  await using probe = await startProbe({
    MAX_CONNECTIONS_PER_IP: "0",
    SSE_LIFETIME_SECONDS: "600",
    MAX_RSS_BYTES: "0",
    // The overload watch takes a loop held by a busy machine while no
    // message flows (only SSE) for a control-frame flood and recycles the
    // listener, which ends every stream; off, as for in-process test servers.
    EVENT_LOOP_STALL_MS: "0",
  });
  const controller = new AbortController();
  const events = new Array<number>(STREAMS).fill(0);
  const readers = await Promise.all(events.map(async (_, i) => {
    const response = await fetch(`http://127.0.0.1:${probe.port}/sse`, {
      signal: controller.signal,
    });
    assert.equal(response.status, 200);
    const reading = (async () => {
      try {
        const text = response.body!.pipeThrough(new TextDecoderStream());
        for await (const chunk of text) {
          events[i]! += chunk.split("\n\n").length - 1;
        }
      } catch {
        // The abort at the end.
      }
    })();
    return { reading };
  }));
  const everyStreamHas = (count: number, what: string) =>
    withDeadline(
      (async () => {
        while (events.some((n) => n < count)) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })(),
      30_000,
      what,
    );
  try {
    await everyStreamHas(4, "every stream's first time events");
    const before = await probe.heap();
    await everyStreamHas(
      Math.min(...events) + TICKS,
      `${TICKS} more time events on every stream`,
    );
    const after = await probe.heap();
    const perStreamTick = (after - before) / STREAMS / TICKS;
    assert.ok(
      perStreamTick < MAX_HEAP_PER_STREAM_TICK,
      `${perStreamTick.toFixed(0)} bytes of heap kept per stream per tick`,
    );
  } finally {
    controller.abort();
    await Promise.all(readers.map(({ reading }) => reading));
  }
});
