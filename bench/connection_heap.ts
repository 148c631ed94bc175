/**
 * The JavaScript heap one echo connection keeps while idle, counted by V8
 * heap snapshots (`node:v8`'s `getHeapSnapshot`, which collects garbage
 * first): `base` connections opened on socket stand-ins
 * (`echo_stand_in.ts`), a snapshot, `count` more, a second snapshot, and
 * the difference per connection by kind of object (constructor or V8 type).
 * The app's own objects only: Deno's WebSocket, its read buffers and the
 * network are not in it (issue #23: the first idle step, 100 -> 1,000
 * connections).
 *
 * ```sh
 * deno run -A bench/connection_heap.ts [count=1000] [base=100]
 * ```
 *
 * @module
 */
import v8 from "node:v8";
import { StandIns } from "./echo_stand_in.ts";

const [countText = "1000", baseText = "100"] = Deno.args;
const count = Number(countText);
const base = Number(baseText);

/** Objects and self bytes by kind, in one snapshot. */
type Census = Map<string, { objects: number; bytes: number }>;

/**
 * Writes a snapshot to `path` without parsing it, so the second snapshot
 * holds nothing of the first one's counting.
 */
async function snapshot(path: string): Promise<void> {
  using file = await Deno.open(path, {
    write: true,
    create: true,
    truncate: true,
  });
  const writer = new TextEncoder();
  for await (const chunk of v8.getHeapSnapshot()) {
    await file.write(
      typeof chunk === "string" ? writer.encode(chunk) : chunk,
    );
  }
}

/** Counts a snapshot's nodes by "type name" (`object EchoConnection`). */
async function census(path: string): Promise<Census> {
  const snapshot = JSON.parse(await Deno.readTextFile(path));
  const fields: string[] = snapshot.snapshot.meta.node_fields;
  const types: string[] = snapshot.snapshot.meta.node_types[0];
  const nodes: number[] = snapshot.nodes;
  const strings: string[] = snapshot.strings;
  const width = fields.length;
  const [typeAt, nameAt, sizeAt] = ["type", "name", "self_size"].map((f) =>
    fields.indexOf(f)
  ) as [number, number, number];
  const kinds: Census = new Map();
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt]!]!;
    // Strings and code are named by their text: one kind each.
    const name = type === "object" || type === "closure" ||
        type === "native"
      ? strings[nodes[i + nameAt]!]!
      : "";
    const key = name ? `${type} ${name}` : type;
    const kind = kinds.get(key) ?? { objects: 0, bytes: 0 };
    kind.objects++;
    kind.bytes += nodes[i + sizeAt]!;
    kinds.set(key, kind);
  }
  return kinds;
}

const dir = await Deno.makeTempDir({ prefix: "connection_heap_" });
const standIns = new StandIns();
standIns.open(base);
// The first snapshot leaves buffers of its own behind: not counted.
await snapshot(`${dir}/warm.heapsnapshot`);
await snapshot(`${dir}/before.heapsnapshot`);
const kept = standIns.open(count);
await snapshot(`${dir}/after.heapsnapshot`);
const before = await census(`${dir}/before.heapsnapshot`);
const after = await census(`${dir}/after.heapsnapshot`);
await Deno.remove(dir, { recursive: true });

const rows = [...after].map(([key, { objects, bytes }]) => {
  const was = before.get(key) ?? { objects: 0, bytes: 0 };
  return {
    key,
    objects: (objects - was.objects) / count,
    bytes: (bytes - was.bytes) / count,
  };
}).filter((row) => Math.abs(row.bytes) >= 4 || Math.abs(row.objects) >= 0.05)
  .sort((a, b) => b.bytes - a.bytes);
const total = rows.reduce(
  (sum, row) => ({
    objects: sum.objects + row.objects,
    bytes: sum.bytes + row.bytes,
  }),
  { objects: 0, bytes: 0 },
);
console.log(
  `${count} idle echo connections over ${base}: per connection ` +
    `${total.objects.toFixed(1)} objects, ${total.bytes.toFixed(0)} bytes ` +
    `of JavaScript heap (${kept.length} kept)`,
);
console.log("objects  bytes  kind");
for (const row of rows) {
  console.log(
    `${row.objects.toFixed(2).padStart(7)} ${
      row.bytes.toFixed(0).padStart(6)
    }  ${row.key}`,
  );
}
standIns.dispose();
Deno.exit(0);
