/**
 * What `BroadcastChannel` does between the workers of one process, the path
 * rooms take under `deno serve --parallel`:
 * `deno run -A bench/broadcast_cost.ts [workers] [messages]`.
 *
 * The main thread posts `messages` 64-byte strings on one channel, in one
 * turn of the event loop, two ways: one post per message, and one post per
 * 100 messages (an array, as `lib/rooms/broadcast_bridge.ts` batches a
 * turn's messages). Each worker counts what arrives; after the posts the
 * main thread waits until the counts stop changing (up to 5 s) and prints
 * how many each worker got and how long the last one took. Deno's channel
 * drops what a lagging worker cannot queue, so a count below `messages` is
 * loss, not slowness.
 *
 * @module
 */
const workers = Number(Deno.args[0] ?? 2);
const messages = Number(Deno.args[1] ?? 10_000);

const source = `
  let count = 0;
  let last = 0;
  let channel;
  self.onmessage = (event) => {
    if (event.data.open) {
      count = 0;
      channel = new BroadcastChannel(event.data.open);
      channel.onmessage = (e) => {
        count += Array.isArray(e.data) ? e.data.length : 1;
        last = performance.timeOrigin + performance.now();
      };
      self.postMessage({ ready: true });
    } else if (event.data.count) {
      self.postMessage({ count, last });
    } else if (event.data.close) {
      channel.close();
      self.postMessage({ closed: true });
    }
  };
`;
const url = `data:application/javascript,${encodeURIComponent(source)}`;
const pool = Array.from(
  { length: workers },
  () => new Worker(url, { type: "module" }),
);

function ask<T>(worker: Worker, message: unknown): Promise<T> {
  const { promise, resolve } = Promise.withResolvers<T>();
  worker.onmessage = (event) => resolve(event.data);
  worker.postMessage(message);
  return promise;
}

async function run(name: string, batch: number): Promise<void> {
  const channelName = `ws-echo:bench:${batch}`;
  await Promise.all(pool.map((worker) => ask(worker, { open: channelName })));
  const channel = new BroadcastChannel(channelName);
  const payload = "x".repeat(64);
  const t0 = performance.timeOrigin + performance.now();
  for (let i = 0; i < messages; i += batch) {
    if (batch === 1) channel.postMessage(payload);
    else {
      channel.postMessage(
        Array.from({ length: Math.min(batch, messages - i) }, () => payload),
      );
    }
  }
  const postedMs = performance.timeOrigin + performance.now() - t0;
  let counts: Array<{ count: number; last: number }> = [];
  let before = -1;
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    counts = [];
    for (const worker of pool) {
      counts.push(await ask(worker, { count: true }));
    }
    const total = counts.reduce((sum, c) => sum + c.count, 0);
    if (total === before || total === messages * workers) break;
    before = total;
  }
  channel.close();
  await Promise.all(pool.map((worker) => ask(worker, { close: true })));
  const lastMs = Math.max(...counts.map((c) => c.last)) - t0;
  console.log(
    `| ${name} | ${workers} | ${messages} | ${
      counts.map((c) => c.count).join(", ")
    } | ${postedMs.toFixed(0)} | ${lastMs.toFixed(0)} |`,
  );
}

console.log(
  "| Posts | Workers | Messages | Received by each | Posting ms | Last arrival ms |",
);
console.log("| --- | --- | --- | --- | --- | --- |");
await run("one per message", 1);
await run("one per 100 messages", 100);
for (const worker of pool) worker.terminate();
