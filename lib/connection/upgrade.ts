/**
 * The upgrade decision, made once per request for every WebSocket endpoint,
 * the way ws's `handleUpgrade` and python-websockets' `ServerProtocol.accept`
 * do: identify the client, parse the query options, check the handshake
 * (RFC 6455 §4.2.1), tell a plain GET what an upgrade would meet, answer a
 * `status=` the client asked for, refuse a client already gone, admit (the
 * capacity is checked once, by taking the slot), and write the prelude. It
 * does no I/O: the route waits out an `open_delay=`, upgrades with what it
 * returns, or answers the refusal through `admission/refuse.ts`.
 *
 * **Extending it.** An endpoint is an {@link UpgradeEndpoint}: a path and
 * hooks. `check` runs after the query and the handshake and before
 * admission (and for a plain GET, after admission's preview), and may return
 * a refusal (a row of `lib/refusals.ts`; add a row for a new reason), e.g. a
 * full room; `prelude` writes the messages sent first. A new echo option
 * belongs in `option_schema.ts` (the schema and its help), where `check` and
 * the connection read it from {@link UpgradeFacts.query}; an endpoint whose
 * query is not the echo's (`/room`'s `self=`) reads it with `options`.
 *
 * @module
 */
import { askedRefusal } from "../admission/failure_controls.ts";
import {
  type AdmissionServices,
  admit,
  type Client,
  identifyClient,
  previewAdmission,
} from "../admission/admit.ts";
import type { Lease } from "../admission/slots.ts";
import type { IdSource } from "../ids.ts";
import { checkHandshake, webSocketUrl } from "../protocol/handshake.ts";
import { handshakeRefusal, type Refusal, refusal } from "../refusals.ts";
import type { EchoQuery } from "./option_schema.ts";
import {
  type EchoOptions,
  parseEchoQuery,
  PLAIN_ECHO,
  type QueryContext,
  toEchoOptions,
  toStreamOptions,
} from "./parse_options.ts";
import type { StreamOptions } from "./stream_push.ts";

/** What the decision reads: admission's part of the app, and the ids. */
export interface UpgradeServices extends AdmissionServices {
  ids: IdSource;
}

/** What is known of an upgrade once it passed the checks. */
export interface UpgradeFacts<Own = undefined> {
  request: Request;
  /** The TCP peer, which differs from the client behind a trusted proxy. */
  peer: Deno.NetAddr | undefined;
  client: Client;
  /** The echo options, and the parameters that are not options. */
  query: EchoQuery;
  ignored: string[];
  /** What the endpoint's own `options` read; none without that hook. */
  own: Own | undefined;
  /** Subprotocols offered, in the client's order of preference. */
  offeredProtocols: string[];
  /** The one chosen: the first offered (browsers abort when none is). */
  protocol: string | undefined;
}

/** One WebSocket endpoint: its path and what it adds to the decision. */
export interface UpgradeEndpoint<Own = undefined> {
  /** Where it is mounted, e.g. `/echo`. */
  path: string;
  /** `/close`: text "CODE REASON" closes with that code and reason. */
  closeCommands?: boolean;
  /** `/stream`: takes the stream options and sends messages of its own. */
  stream?: boolean;
  /** `/room/NAME`: a plain GET is told how to join a room, not an echo. */
  room?: boolean;
  /**
   * Query options of this endpoint's own, read in place of the echo options
   * (which then stay the plain echo's): a refusal for a bad one, else what
   * {@link UpgradeFacts.own} holds. Called with no parameters when the URL
   * has no query.
   */
  options?: (params: URLSearchParams) => { own: Own } | Refusal;
  /**
   * A check of this endpoint's own, after the query and the handshake and
   * before admission: a refusal ends the upgrade there. A plain GET is
   * checked too, after admission's preview (no subprotocols offered then),
   * so it learns what an upgrade would meet.
   */
  check?: (facts: UpgradeFacts<Own>) => Refusal | undefined;
  /**
   * Messages sent first, before any echo (`/inspect`'s report). Runs once
   * the client is admitted, so `id` is its connection id.
   */
  prelude?: (facts: UpgradeFacts<Own>, id: string) => string[];
}

/** An admitted upgrade: what the route hands `Deno.upgradeWebSocket` and the connection. */
export interface Admitted<Own = undefined> {
  client: Client;
  /** The TCP peer (a proxy's socket behind one). */
  peer: Deno.NetAddr | undefined;
  /** The slot; the connection releases it, or the route if the upgrade fails. */
  lease: Lease;
  /** The connection id. */
  id: string;
  /** The subprotocol to answer with, if any. */
  protocol: string | undefined;
  echo: EchoOptions;
  /** Text messages sent on open, before any echo. */
  prelude: readonly string[];
  closeCommands: boolean;
  /** `/stream`'s own messages; none elsewhere. */
  stream: StreamOptions | undefined;
  /** `open_delay=`: how long after its arrival the `101` goes out, in ms. */
  openDelayMs: number;
  /** What the endpoint's own `options` read, as {@link UpgradeFacts.own}. */
  own: Own | undefined;
}

/** A refused upgrade: who, for the log line, and the answer. */
export interface Refused {
  client: Client;
  refusal: Refusal;
}

/** Nothing to send first (shared, never mutated). */
const NO_PRELUDE: readonly string[] = [];

/**
 * Most upgrades have no query string: no options and none ignored, shared
 * rather than two objects per upgrade (frozen, so a write would throw).
 */
const NO_QUERY: EchoQuery = Object.freeze({});
const NONE_IGNORED: string[] = Object.freeze([]) as unknown as string[];

/**
 * Decides one upgrade request: admitted (a slot is taken) or refused
 * (nothing is taken, nothing counted yet).
 *
 * @param services What admission reads, and the ids.
 * @param upgrade The request, its TCP peer and the endpoint it reached.
 * @example A plain GET is told how to connect
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryGuard } from "../admission/memory_guard.ts";
 * import { RefusalLog } from "../admission/refusal_log.ts";
 * import { ConnectionRegistry } from "../admission/slots.ts";
 * import { SuspectList } from "../admission/suspects.ts";
 * import { DEFAULT_CONFIG } from "../config.ts";
 * import { IdSource } from "../ids.ts";
 * import { Metrics } from "../metrics.ts";
 * import { decideUpgrade } from "./upgrade.ts";
 * const services = {
 *   config: DEFAULT_CONFIG,
 *   metrics: new Metrics(),
 *   memory: new MemoryGuard({ budgetBytes: 0, maxRssBytes: 0 }),
 *   registry: new ConnectionRegistry({ maxPerIp: 32, maxTotal: 0 }),
 *   suspects: new SuspectList(),
 *   log: () => {},
 *   refusalLog: new RefusalLog(() => {}),
 *   ids: new IdSource(),
 * };
 * const decision = decideUpgrade(services, {
 *   endpoint: { path: "/echo" },
 *   request: new Request("http://localhost/echo"),
 *   peer: { transport: "tcp", hostname: "127.0.0.1", port: 50000 },
 * });
 * assert.equal("refusal" in decision && decision.refusal.status, 426);
 * services.memory.dispose();
 * ```
 */
export function decideUpgrade<Own = undefined>(
  services: UpgradeServices,
  upgrade: {
    endpoint: UpgradeEndpoint<Own>;
    request: Request;
    peer: Deno.NetAddr | undefined;
  },
): Admitted<Own> | Refused {
  const { config } = services;
  const { endpoint, request, peer } = upgrade;
  const headers = request.headers;
  const client = identifyClient(config, {
    kind: "ws",
    path: endpoint.path,
    request,
    peer,
  });
  // Most connections have no query string: they skip the parse. A bad
  // option is refused first, so a plain GET of the URL shows why too.
  const hasQuery = request.url.includes("?");
  // An endpoint with options of its own has none of the echo's.
  const echoQuery = hasQuery && endpoint.options === undefined;
  let query: EchoQuery = NO_QUERY;
  let ignored: string[] = NONE_IGNORED;
  let own: Own | undefined;
  if (endpoint.options) {
    const read = endpoint.options(
      hasQuery ? new URL(request.url).searchParams : new URLSearchParams(),
    );
    if (!("own" in read)) return { client, refusal: read };
    own = read.own;
  } else if (echoQuery) {
    const parsed = parseEchoQuery(
      new URL(request.url).searchParams,
      {
        stream: endpoint.stream ?? false,
        maxMessageBytes: config.maxMessageBytes,
        maxBufferedBytes: config.maxBufferedBytes,
      } satisfies QueryContext,
    );
    if ("status" in parsed) return { client, refusal: parsed };
    ({ query, ignored } = parsed);
  }
  const checked = checkHandshake(headers);
  const offered = "reason" in checked ? [] : checked.protocols;
  const facts: UpgradeFacts<Own> = {
    request,
    peer,
    client,
    query,
    ignored,
    own,
    offeredProtocols: offered,
    protocol: offered[0],
  };
  if ("reason" in checked) {
    // A plain GET learns first what an upgrade would meet (403, 429, 503).
    const instead = checked.reason === "plain_http"
      ? askedRefusal(query) ?? previewAdmission(services, client) ??
        endpoint.check?.(facts)
      : undefined;
    return {
      client,
      refusal: instead ?? handshakeRefusal(
        checked,
        () => {
          const secure = config.trustProxy > 0
            ? headers.get("x-forwarded-proto") === "https" || undefined
            : undefined;
          return webSocketUrl(request.url, secure);
        },
        endpoint.room,
      ),
    };
  }
  // Asked for: answered before admission, as it holds nothing.
  const asked = echoQuery ? askedRefusal(query) : undefined;
  if (asked) return { client, refusal: asked };
  // Deno reports an unspecified peer once the client has reset the
  // connection; upgrading it anyway leaks a descriptor in Deno 2.9 for
  // good (attack review: 231 of 12,000 reset upgrades under 256).
  if (peer?.hostname === "0.0.0.0" || peer?.hostname === "::") {
    return { client, refusal: refusal("client_gone") };
  }
  const endpointRefusal = endpoint.check?.(facts);
  if (endpointRefusal) return { client, refusal: endpointRefusal };
  const lease = admit(services, client);
  if (!("release" in lease)) return { client, refusal: lease };
  try {
    const id = services.ids.next();
    const echo = echoQuery ? toEchoOptions(query) : PLAIN_ECHO;
    let prelude = endpoint.prelude?.(facts, id) ?? NO_PRELUDE;
    if (echo.greeting) {
      prelude = [
        ...prelude,
        `Welcome to ws-echo: connection ${id}. Every message you send comes back.`,
      ];
    }
    return {
      client,
      peer,
      lease,
      id,
      protocol: facts.protocol,
      echo,
      prelude,
      closeCommands: endpoint.closeCommands ?? false,
      stream: endpoint.stream ? toStreamOptions(query) : undefined,
      openDelayMs: query.open_delay ?? 0,
      own,
    };
  } catch (error) {
    // A bug must not keep the slot: free it, then let onError answer 500.
    lease.release();
    throw error;
  }
}
