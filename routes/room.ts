/**
 * `/room/NAME`: a WebSocket whose messages reach every other member of the
 * room NAME unchanged (`self=1`: the sender's too), and `/room/NAME/presence`:
 * a Server-Sent Events stream of the room's member count, so a member learns
 * of joins and leaves without anything added to its WebSocket stream. A
 * member's upgrade is decided by `decideUpgrade()` like every WebSocket
 * endpoint's; every refusal is a row of `lib/refusals.ts`; the rooms
 * themselves live in `lib/rooms/`.
 *
 * @module
 */
import { Hono } from "hono/quick";
import type { Context } from "hono";
import {
  admitClient,
  type Client,
  identifyClient,
} from "../lib/admission/admit.ts";
import { refuse } from "../lib/admission/refuse.ts";
import { type Refusal, refusal } from "../lib/refusals.ts";
import {
  decideUpgrade,
  type UpgradeEndpoint,
} from "../lib/connection/upgrade.ts";
import { upgradeAndServe } from "../lib/connection/upgrade_socket.ts";
import { parseEchoQuery } from "../lib/connection/parse_options.ts";
import type { RoomRefusal } from "../lib/rooms/registry.ts";
import { parseRoomName, ROOM_NAME_RULE } from "../lib/rooms/room_name.ts";
import type { AppEnv, Services } from "../lib/services.ts";
import { serveLeasedStream } from "../lib/connection/leased_stream.ts";
import { PresenceStream } from "../lib/rooms/presence_stream.ts";

/** Where a room's query is parsed: none of the echo's options apply. */
const ROOM_QUERY = {
  stream: false,
  room: true,
  maxMessageBytes: 0,
  maxBufferedBytes: 0,
} as const;

/** What a member asked for in its query. */
interface MemberOptions {
  self: boolean;
}

/** The room endpoints, mounted at `/room`. */
export function roomRoute(services: Services): Hono<AppEnv> {
  const route = new Hono<AppEnv>();
  route.get("/*", function room(c) {
    const request = c.req.raw;
    const rest = c.req.path.slice("/room/".length);
    const [segment = "", extra, ...more] = rest.split("/");
    const presence = extra === "presence" && more.length === 0;
    const name = presence || extra === undefined
      ? parseRoomName(segment)
      : undefined;
    const peer = c.env?.remoteAddr;
    if (name !== undefined && !presence) {
      return upgrade(services, name, request, peer, c.req.path);
    }
    const who = identifyClient(services.config, {
      kind: presence ? "sse" : "ws",
      path: c.req.path,
      request,
      peer,
    });
    if (name === undefined) {
      return refuse(
        services,
        who,
        refusal("bad_room_name", { rule: ROOM_NAME_RULE }),
      );
    }
    return presenceStream(services, who, name, c);
  });
  route.all(
    "/*",
    (c) =>
      c.text(
        `Method ${c.req.method} not allowed: use GET (with a WebSocket upgrade for /room/NAME)\n`,
        405,
        { Allow: "GET, HEAD" },
      ),
  );
  return route;
}

/**
 * The WebSocket side: the upgrade decision every WebSocket endpoint makes
 * (`lib/connection/upgrade.ts`), with the room's own options and its
 * "full" check, then a place in the room and the upgrade.
 */
function upgrade(
  services: Services,
  name: string,
  request: Request,
  peer: Deno.NetAddr | undefined,
  path: string,
): Response {
  const decision = decideUpgrade(services, {
    endpoint: roomEndpoint(services, name, path),
    request,
    peer,
  });
  if ("refusal" in decision) {
    return refuse(services, decision.client, decision.refusal);
  }
  const { client, lease } = decision;
  const membership = services.rooms.join(name, {
    self: decision.own?.self ?? false,
  });
  if (typeof membership === "string") {
    lease.release();
    return refuse(services, client, roomRefusal(membership, name, services));
  }
  return upgradeAndServe(services, request, decision, membership);
}

/**
 * `/room/NAME` as an upgrade endpoint: `self=` and a room not full. Its
 * options are read with the echo's parser in the room's context: `self` once,
 * every echo option refused with 400 naming it, other parameters ignored.
 */
function roomEndpoint(
  services: Services,
  name: string,
  path: string,
): UpgradeEndpoint<MemberOptions> {
  return {
    path,
    room: true,
    options: (params) => {
      const parsed = parseEchoQuery(params, ROOM_QUERY);
      if ("status" in parsed) return parsed;
      return { own: { self: parsed.query.self === "1" } };
    },
    check: () => roomRefusalFor(services, name),
  };
}

function roomRefusalFor(services: Services, name: string): Refusal | undefined {
  const reason = services.rooms.refusalFor(name);
  return reason && roomRefusal(reason, name, services);
}

/** The catalogue's refusal for a room that cannot be joined. */
function roomRefusal(
  reason: RoomRefusal,
  room: string,
  { config }: Pick<Services, "config">,
): Refusal {
  switch (reason) {
    case "room_full":
      return refusal("room_full", { room, max: config.roomMaxMembers });
    case "rooms_full":
      return refusal("rooms_full", { max: config.maxRooms });
    case "rooms_off":
      return refusal("rooms_off");
  }
}

/**
 * `/room/NAME/presence`: the room's member count now and after every change
 * (`lib/rooms/presence_stream.ts`), until SSE_LIFETIME_SECONDS.
 */
function presenceStream(
  services: Services,
  who: Client,
  name: string,
  c: Context<AppEnv>,
): Response {
  // Only rooms being off refuses a watcher: watching creates no room that
  // MAX_ROOMS counts, and a full room can still be watched.
  if (services.config.maxRooms === 0) {
    return refuse(services, who, roomRefusal("rooms_off", name, services));
  }
  const lease = admitClient(services, who);
  if (lease instanceof Response) return lease;
  return serveLeasedStream(
    c,
    services,
    { client: who, lease },
    (writer) => new PresenceStream(writer, services.rooms, name),
  );
}
