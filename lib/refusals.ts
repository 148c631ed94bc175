/**
 * The catalogue of refusals: every reason a connection endpoint (the
 * WebSocket endpoints and `/sse`) or the page refuses a request, with its status, its
 * headers and its short plain-text body, in one table the way `SETTINGS` in
 * `config.ts` lists the knobs. The reason is also the `reason` label in
 * `/metrics` and the log. `admission/refuse.ts` counts, logs and answers one.
 *
 * @module
 */
import type { HandshakeFailure } from "./protocol/handshake.ts";

/** Seconds a refused client should wait before retrying a full server. */
export const RETRY_AFTER_SECONDS = 10;
/** Seconds to wait while the server sheds load: a budget recovers fast. */
export const OVERLOAD_RETRY_AFTER_SECONDS = 5;

const RETRY = { "Retry-After": String(RETRY_AFTER_SECONDS) };

/**
 * What each WebSocket endpoint is, for the 426 body, by path: the words
 * after "`URL` is", and what the browser console line sends once open.
 * A path not listed (`/echo`, `/`) echoes.
 */
const ENDPOINT_WORDS: Readonly<
  Record<string, readonly [what: string, onopen: string]>
> = {
  "/close": [
    'a WebSocket endpoint that closes when asked: send the text "CODE REASON" (for example "4000 done") and the server closes with that code and reason; other messages are echoed. Connect with a WebSocket client.',
    ` ws.onopen = () => ws.send("4000 done"); ws.onclose = (e) => console.log(e.code, e.reason);`,
  ],
  "/inspect": [
    "a WebSocket that reports your handshake: its first message is a JSON report of what the server saw (address, headers, subprotocols, extensions, limits), then it echoes. Connect with a WebSocket client.",
    "",
  ],
  "/stream": [
    'a WebSocket server push: once connected it sends count=N numbered messages of size=N bytes every interval=N ms, then closes 1000 "stream complete". Connect with a WebSocket client; nothing needs to be sent (what you send is echoed).',
    "",
  ],
};

const ECHO_WORDS = [
  "a WebSocket echo endpoint: connect with a WebSocket client.",
  ` ws.onopen = () => ws.send("hello");`,
] as const;

const ROOM_WORDS = [
  "a WebSocket room: every message a member sends reaches the room's other members. Connect with a WebSocket client, twice to see it.",
  ` ws.onopen = () => ws.send("hello, room");`,
] as const;

/**
 * The 426 body for a plain HTTP request: how to connect instead, in the
 * words of what the endpoint does ({@link ENDPOINT_WORDS}): `/stream`
 * pushes (nothing to send), `/close` closes on "CODE REASON", `/inspect`
 * reports the handshake, a room relays, `/echo` and `/` echo.
 *
 * @param endpoint The `ws:`/`wss:` URL of the endpoint asked for.
 * @param room True for `/room/NAME`, which relays instead of echoing.
 *
 * @example Each endpoint says what it does
 * ```ts
 * import assert from "node:assert/strict";
 * import { howToConnect } from "./refusals.ts";
 * assert.match(howToConnect("ws://localhost:9998/echo"), /is a WebSocket echo endpoint/);
 * assert.match(howToConnect("ws://localhost:9998/close"), /send the text "CODE REASON"/);
 * assert.match(howToConnect("ws://localhost:9998/inspect"), /reports your handshake/);
 * assert.doesNotMatch(howToConnect("ws://localhost:9998/inspect"), /echo endpoint/);
 * ```
 */
export function howToConnect(endpoint: string, room = false): string {
  const [what, onopen] = room
    ? ROOM_WORDS
    : ENDPOINT_WORDS[new URL(endpoint).pathname] ?? ECHO_WORDS;
  return [
    `${endpoint} is ${what}`,
    "",
    "Browser console:",
    `  const ws = new WebSocket("${endpoint}"); ws.onmessage = (e) => console.log(e.data);${onopen}`,
    "",
    "Command line:",
    `  npx wscat -c ${endpoint}`,
    "",
    ...(room
      ? [
        "The member count, joins and leaves: GET /room/NAME/presence (Server-Sent Events).",
        "",
      ]
      : []),
  ].join("\n");
}

/**
 * One row: the status and headers, and the body from the row's facts. The
 * status `"asked"` is the one the facts name (`status=`).
 */
interface RefusalRow<Facts> {
  readonly status: 400 | 403 | 426 | 429 | 503 | "asked";
  readonly headers: Readonly<Record<string, string>>;
  readonly body: (facts: Facts) => string;
}

function row<Facts = Record<string, never>>(
  status: RefusalRow<Facts>["status"],
  headers: Record<string, string>,
  body: (facts: Facts) => string,
): RefusalRow<Facts> {
  return { status, headers, body };
}

/**
 * Every refusal, by reason. A row's body takes the facts it names (the
 * endpoint's URL, the offending header, the cap); everything else about the
 * answer is here.
 */
export const REFUSALS = {
  /** A plain GET: how to connect instead (RFC 6455 §4.2.2: 426 + Upgrade). */
  plain_http: row<{ endpoint: string; room?: boolean }>(
    426,
    { Upgrade: "websocket", Connection: "Upgrade" },
    ({ endpoint, room }) => howToConnect(endpoint, room),
  ),
  /** A malformed handshake header, or one Deno would not upgrade. */
  bad_handshake: row<{ detail: string }>(
    400,
    {},
    ({ detail }) => `${detail}\n`,
  ),
  /** A `Host` that is no host and port (RFC 9112 §3.2: 400; `lib/http/host.ts`). */
  bad_host: row<{ detail: string }>(400, {}, ({ detail }) => `${detail}\n`),
  /** Any version but 13 (RFC 6455 §4.4: 426 naming the one spoken). */
  bad_version: row<{ version: string }>(
    426,
    { "Sec-WebSocket-Version": "13" },
    ({ version }) =>
      `Unsupported Sec-WebSocket-Version "${version}": this server speaks version 13 (RFC 6455)\n`,
  ),
  /** A query option given twice or with a bad value. */
  bad_options: row<{ detail: string }>(400, {}, ({ detail }) => detail),
  /** Deno reports the peer as unspecified once the client reset the socket. */
  client_gone: row(
    400,
    {},
    () => "The connection was gone before the upgrade\n",
  ),
  /** A browser page on an origin ALLOWED_ORIGINS leaves out. */
  origin: row<{ origin: string | undefined }>(
    403,
    {},
    ({ origin }) =>
      `Origin "${origin}" is not allowed to connect to this server\n`,
  ),
  /** MAX_CONNECTIONS_PER_IP reached for this address or IPv6 prefix. */
  per_ip: row<{ client: string; max: number }>(
    429,
    RETRY,
    ({ client, max }) =>
      `Too many connections from ${client}: at most ${max} at once. Close one and retry\n`,
  ),
  /**
   * MAX_CONNECTIONS reached: `taken` slots (connections, streams, upgrades
   * not yet open, and `held` of them kept for closed slow readers whose
   * socket may still be there) and `leaked` descriptors held for good by
   * upgrades their clients reset (`ConnectionRegistry.leak`), which count
   * against it. Held slots are named apart: "192 connections open" while
   * none were misled a stranger (issue #20).
   */
  total: row<{ max: number; taken: number; held?: number; leaked: number }>(
    503,
    RETRY,
    ({ max, taken, held = 0, leaked }) =>
      held === 0 && leaked === 0
        ? `Server full: ${max} connections open. Retry later\n`
        : held === 0
        ? `Server full: ${taken} connections open and ${leaked} descriptors leaked by upgrades their clients reset, of ${max} allowed (a restart frees the leaked ones). Retry later\n`
        : `Server full: ${
          taken - held
        } connections open, ${held} slots held for closed slow readers whose sockets are not yet gone` +
          (leaked === 0
            ? ""
            : ` and ${leaked} descriptors leaked by upgrades their clients reset`) +
          `, of ${max} allowed. Retry later\n`,
  ),
  /** Over MEMORY_BUDGET_BYTES or MAX_RSS_BYTES: shedding load. */
  overloaded: row(
    503,
    { "Retry-After": String(OVERLOAD_RETRY_AFTER_SECONDS) },
    () =>
      `Server overloaded: it holds too much unread data. Retry in ${OVERLOAD_RETRY_AFTER_SECONDS} seconds\n`,
  ),
  /**
   * On the suspect list (`admission/suspects.ts`), the address or its
   * network (`client` names the one listed): struck at repeated overload
   * incidents that cost every client a reconnect, for bytes the app never
   * saw or for sending no complete message. `Retry-After` is set to the
   * seconds left.
   */
  suspect: row<{ client: string; seconds: number }>(
    429,
    RETRY,
    ({ client, seconds }) =>
      `Refused for ${seconds} seconds: ${client} was struck at repeated overload incidents (it brought bytes the service never saw, or sent no complete message)\n`,
  ),
  /**
   * RATE_LIMIT_IP_REQUESTS_PER_SECOND passed by this address's plain HTTP
   * requests (`admission/request_rate.ts`), or `network` times it by its
   * network's (`client` is then the network, `203.0.113.0/24`).
   * `Retry-After` is set to the seconds until the next one may go.
   */
  request_rate: row<{ client: string; perSecond: number; network?: number }>(
    429,
    RETRY,
    ({ client, perSecond, network }) =>
      `Too many requests from ${client}: at most ${perSecond} a second (${
        network ? `${network} x ` : ""
      }RATE_LIMIT_IP_REQUESTS_PER_SECOND${
        network ? " for a network" : ""
      }). Retry later\n`,
  ),
  /**
   * A file of the page is there but cannot be opened now: no descriptor is
   * free (EMFILE, ENFILE; `http/static_files.ts`). Not a 404, which a cache
   * could keep for the front page.
   */
  files_unavailable: row(
    503,
    RETRY,
    () =>
      "Server busy: no file descriptor free to read the page. Retry later\n",
  ),
  /** SIGINT or SIGTERM received: new upgrades wait for another instance. */
  shutting_down: row(503, RETRY, () => "Server shutting down. Retry later\n"),
  /** `/room/NAME` with a NAME that breaks the rule (`rooms/room_name.ts`). */
  bad_room_name: row<{ rule: string }>(
    400,
    {},
    ({ rule }) =>
      `Bad room name: ${rule}, as in /room/NAME or /room/NAME/presence\n`,
  ),
  /** ROOM_MAX_MEMBERS reached in this room. */
  room_full: row<{ room: string; max: number }>(
    429,
    RETRY,
    ({ room, max }) =>
      `Room "${room}" is full: at most ${max} ${
        max === 1 ? "member" : "members"
      } (ROOM_MAX_MEMBERS). Retry when someone leaves\n`,
  ),
  /** MAX_ROOMS rooms open on this instance: no new one. */
  rooms_full: row<{ max: number }>(
    503,
    RETRY,
    ({ max }) =>
      `No room for another room: ${max} ${
        max === 1 ? "room is" : "rooms are"
      } open on this server (MAX_ROOMS). Retry later\n`,
  ),
  /** MAX_ROOMS=0: rooms are turned off. */
  rooms_off: row(
    503,
    {},
    () => "Rooms are turned off on this server (MAX_ROOMS=0)\n",
  ),
  /**
   * Not a fault: the client asked for this status with `status=` (and for
   * `Retry-After` with `retry_after=`), to test its failure handling.
   * `/metrics` counts these apart from the real refusals above.
   */
  status_asked: row<{ status: number; retryAfterSeconds?: number }>(
    "asked",
    {},
    ({ status }) =>
      `Status ${status} was asked for (status=${status}): this refusal is a test, not a fault\n`,
  ),
} as const;

/** Why a request was refused; the `reason` label in `/metrics` and the log. */
export type RefusalReason = keyof typeof REFUSALS;

/** The facts the body of `reason` is written from. */
export type RefusalFacts<Reason extends RefusalReason> = Parameters<
  (typeof REFUSALS)[Reason]["body"]
>[0];

/** A refusal: the status, headers and body to answer with, and why. */
export interface Refusal {
  /** 400, 403, 426, 429 or 503; any 4xx or 5xx when asked for with `status=`. */
  status: number;
  reason: RefusalReason;
  headers: Record<string, string>;
  body: string;
}

/**
 * The refusal for `reason`, written from its row of {@link REFUSALS}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { refusal } from "./refusals.ts";
 * const full = refusal("per_ip", { client: "203.0.113.9", max: 32 });
 * assert.equal(full.status, 429);
 * assert.equal(full.headers["Retry-After"], "10");
 * assert.match(full.body, /at most 32 at once/);
 * ```
 */
export function refusal<Reason extends RefusalReason>(
  reason: Reason,
  ...facts: RefusalFacts<Reason> extends Record<string, never> ? []
    : [RefusalFacts<Reason>]
): Refusal {
  const { status, headers, body } = REFUSALS[reason] as RefusalRow<unknown>;
  if (status === "asked") {
    const asked = facts[0] as RefusalFacts<"status_asked">;
    return {
      status: asked.status,
      reason,
      headers: asked.retryAfterSeconds === undefined
        ? {}
        : { "Retry-After": String(asked.retryAfterSeconds) },
      body: body(asked),
    };
  }
  return { status, reason, headers: { ...headers }, body: body(facts[0]) };
}

/**
 * The refusal for what is wrong with a handshake.
 *
 * @param endpoint Gives the `ws:`/`wss:` URL the 426 body names; called only
 * for that body.
 * @param room True for `/room/NAME`: the 426 body describes a room.
 */
export function handshakeRefusal(
  failure: HandshakeFailure,
  endpoint: () => string,
  room = false,
): Refusal {
  switch (failure.reason) {
    case "plain_http":
      return refusal("plain_http", { endpoint: endpoint(), room });
    case "bad_version":
      return refusal("bad_version", { version: failure.version });
    case "bad_handshake":
      return refusal("bad_handshake", { detail: failure.detail });
  }
}
