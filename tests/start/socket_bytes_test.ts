/**
 * `SocketBytesReader.read()` parses `ss` output as it comes, a piece at a
 * time (`lib/start/socket_bytes.ts`): at 10,000 sockets Deno's collected
 * `output()` and a parse of the whole text took a process holding them
 * from 65 to 143 MiB in 20 readings. A stand-in `ss` prints 2,000 sockets
 * (more than two pieces), one socket split between two writes; the reading
 * must be the same as a parse of the whole text, keep only the peers past
 * `atLeastBytes` when asked, and end its child when the text is unreadable.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  parseSocketBytes,
  READ_CHUNK_BYTES,
  SocketBytesReader,
} from "../../lib/start/socket_bytes.ts";

/** Sockets the stand-in prints: `127.0.0.2:i`, i * 10 bytes received. */
const SOCKETS = 2000;

/** The stand-in's text: {@link SOCKETS} sockets, each with its `tcp_info`. */
function ssText(broken?: number): string {
  let text = "";
  for (let i = 1; i <= SOCKETS; i++) {
    const peer = i === broken ? "nonsense" : `127.0.0.2:${i}`;
    text += `0 0 127.0.0.1:80 ${peer}\n` +
      `\t cubic bytes_sent:1 bytes_received:${i * 10} lastrcv:9000\n`;
  }
  return text;
}

/**
 * A stand-in `ss` that prints `text` in two writes, the first ending
 * inside socket 1,500's `tcp_info` line (a pause between them makes that
 * the end of a piece more often than not; the reading must be the same
 * wherever the pieces end).
 */
async function piecewiseSs(text: string) {
  const dir = await Deno.makeTempDir();
  const split = text.indexOf("bytes_received:15000") + 5;
  await Deno.writeTextFile(`${dir}/out`, text);
  const path = `${dir}/ss`;
  await Deno.writeTextFile(
    path,
    `#!/bin/sh\nhead -c ${split} ${dir}/out\nsleep 0.2\n` +
      `tail -c +${split + 1} ${dir}/out\n`,
  );
  await Deno.chmod(path, 0o755);
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("SocketBytesReader.read() parses ss output piece by piece", async (t) => {
  const text = ssText();
  assert.ok(text.length > 2 * READ_CHUNK_BYTES, "more than two pieces");
  await using ss = await piecewiseSs(text);
  const reader = new SocketBytesReader(80, { command: ss.path });

  await t.step(
    "every socket, as a parse of the whole text reads it",
    async () => {
      const reading = await reader.read();
      assert.ok("bytes" in reading, JSON.stringify(reading));
      assert.equal(reading.bytes.size, SOCKETS);
      assert.deepEqual(reading.bytes, parseSocketBytes(text).bytes);
      assert.equal(reading.bytes.get("127.0.0.2:1500"), 15000);
    },
  );

  await t.step(
    "with atLeastBytes: only the peers that brought that many",
    async () => {
      const reading = await reader.read(undefined, { atLeastBytes: 19_990 });
      assert.ok("bytes" in reading, JSON.stringify(reading));
      assert.deepEqual([...reading.bytes], [
        ["127.0.0.2:1999", 19_990],
        ["127.0.0.2:2000", 20_000],
      ]);
    },
  );
});

Deno.test("SocketBytesReader.read() says why when a later piece cannot be parsed, and ends its child", async () => {
  await using ss = await piecewiseSs(ssText(1800));
  const reading = await new SocketBytesReader(80, { command: ss.path })
    .read();
  assert.ok("unavailable" in reading, JSON.stringify(reading));
  assert.match(
    reading.unavailable,
    /Cannot parse ss output "0 0 127.0.0.1:80 nonsense"/,
  );
});
