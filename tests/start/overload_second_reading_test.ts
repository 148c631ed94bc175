/**
 * A memory incident where an address's connections together brought more
 * than its line, but each is still sending and within one message in
 * flight: honest non-readers half-way through their first 1 MiB look so at
 * one instant (8 per address were struck and every client recycled, issue
 * #20), and so does a split attacker still sending its last fragments. The
 * incident is left to the memory guard and the count read again a second
 * later: connections gone quiet holding the bytes are struck and the
 * listener recycled; connections still sending are read again a few times
 * and nobody is closed.
 *
 * The watch reads a fake RSS (a jump past half of MAX_RSS_BYTES: the early
 * trip) and a fake kernel count; the clients' connections and the 1013 are
 * real.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../_server.ts";
import { connect, until } from "../_client.ts";
import { OverloadWatch } from "../../lib/start/overload_watch.ts";
import {
  IN_FLIGHT_REASON,
  SECOND_READING_REASON,
  SECOND_READINGS,
} from "../../lib/start/incident_suspects.ts";
import {
  peerKey,
  type SocketBytesReading,
} from "../../lib/start/socket_bytes.ts";

const MiB = 1024 * 1024;
/** Connections of one address, each 0.99 MiB into a message the app never saw. */
const CONNECTIONS = 3;
/** Samples, incidents and readings wait on the loop; a loaded machine delays them. */
const TIMEOUT_MS = 30_000;

/**
 * The server with {@link CONNECTIONS} clients and a watch whose RSS jumps
 * from 100 to 300 MiB (MAX_RSS_BYTES 400 MiB) once it runs; `quiet()` makes
 * the kernel's count say the clients stopped sending.
 */
async function watched(options: { unanswered?: string } = {}) {
  const server = startTestServer({}, { overloadWatch: false });
  const { services } = server;
  const clients = await Promise.all(
    Array.from({ length: CONNECTIONS }, () => connect(`${server.ws}/echo`)),
  );
  const peers = services.registry.connections().map(([connection]) => {
    const peer = connection.activity?.().peer;
    assert.ok(peer, "the connection's TCP peer is known");
    return peerKey(peer.hostname, peer.port);
  });
  assert.equal(peers.length, CONNECTIONS);
  if (options.unanswered) withUnansweredClose(services, options.unanswered);
  const bytes = new Map(peers.map((peer) => [peer, 0.99 * MiB]));
  let sending = new Set(peers);
  let readings = 0;
  const read = (): SocketBytesReading => {
    readings++;
    return { bytes, sending };
  };
  let recycles = 0;
  const startedAt = performance.now();
  const watch = new OverloadWatch(
    { ...services, config: { ...services.config, maxRssBytes: 400 * MiB } },
    {
      recycle: async (between) => {
        recycles++;
        await between();
        return 0;
      },
      readRss: () => (performance.now() - startedAt < 500 ? 100 : 300) * MiB,
      socketBytes: { read: () => Promise.resolve(read()), readSync: read },
    },
  );
  const incidents = () =>
    server.records.filter((record) => record.event === "overload_incident");
  return {
    server,
    clients,
    incidents,
    readings: () => readings,
    recycles: () => recycles,
    quiet: () => sending = new Set(),
    async [Symbol.asyncDispose]() {
      watch.dispose();
      for (const { socket } of clients) socket.close();
      await server.allClosed();
      await server[Symbol.asyncDispose]();
    },
  };
}

/**
 * Adds to what `services.registry` lists a connection of `key` whose close,
 * started 5 s ago, its client never answered: a client that does not read,
 * shed by the memory guard with 1013.
 */
function withUnansweredClose(
  services: ReturnType<typeof startTestServer>["services"],
  key: string,
): void {
  const registry = services.registry;
  const listed = registry.connections.bind(registry);
  const since = Date.now() - 5000;
  const activity = {
    opened: true,
    startedAt: since,
    lastMessageAt: since,
    messages: 1,
    sent: 0,
    bytesIn: MiB,
    peer: undefined,
    closingSince: since,
  };
  const shed = { activity: () => activity };
  registry.connections = () =>
    [...listed(), [shed, key]] as ReturnType<typeof listed>;
}

Deno.test("a memory incident with an address's connections still sending is left to the guard and read again", async (t) => {
  await t.step(
    "still sending at every second reading (messages in flight): nobody struck or closed",
    async () => {
      await using run = await watched();
      await until(() => run.incidents().length > 0, "the memory incident", {
        timeoutMs: TIMEOUT_MS,
      });
      const [first] = run.incidents();
      assert.equal(first!.cause, "uncounted_memory");
      assert.equal(first!.action, "reported");
      assert.equal(first!.reason, IN_FLIGHT_REASON);
      assert.deepEqual(first!.struck, undefined);
      await until(
        () => run.readings() >= 1 + SECOND_READINGS,
        `${SECOND_READINGS} second readings`,
        { timeoutMs: TIMEOUT_MS },
      );
      assert.equal(run.incidents().length, 1, "a second reading logs nothing");
      assert.equal(run.recycles(), 0);
      for (const { socket, inbox } of run.clients) {
        socket.send("still here");
        assert.equal(await inbox.next(), "still here");
      }
    },
  );
  await t.step(
    "beside a close left unanswered (a shed non-reader): the incident, which only logs, strikes nobody",
    async () => {
      await using run = await watched({ unanswered: "127.0.0.9" });
      await until(
        () => run.readings() >= 1 + SECOND_READINGS,
        `the incident and ${SECOND_READINGS} second readings`,
        { timeoutMs: TIMEOUT_MS },
      );
      const incidents = run.incidents();
      assert.equal(incidents.length, 1, "a second reading logs nothing");
      assert.equal(incidents[0]!.action, "reported");
      assert.equal(incidents[0]!.reason, IN_FLIGHT_REASON);
      assert.deepEqual(incidents[0]!.struck, undefined);
      assert.equal(
        run.server.services.suspects.struckBefore("127.0.0.9"),
        false,
      );
      assert.equal(run.recycles(), 0);
    },
  );
  await t.step(
    "gone quiet by the second reading (an endless message held): struck, recycled",
    async () => {
      await using run = await watched();
      await until(() => run.incidents().length > 0, "the memory incident", {
        timeoutMs: TIMEOUT_MS,
      });
      assert.equal(run.incidents()[0]!.action, "reported");
      run.quiet();
      await until(() => run.incidents().length > 1, "the second reading", {
        timeoutMs: TIMEOUT_MS,
      });
      const second = run.incidents()[1]!;
      assert.equal(second.cause, "uncounted_memory");
      assert.equal(second.action, "recycled");
      assert.equal(second.struck, "127.0.0.1");
      assert.equal(second.reason, SECOND_READING_REASON);
      assert.equal(run.recycles(), 1);
      for (const { inbox } of run.clients) {
        assert.equal((await inbox.closed()).code, 1013);
      }
    },
  );
});
