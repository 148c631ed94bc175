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
import { streamSSE } from "hono/streaming";
import * as z from "zod/mini";
import {
  admitClient,
  type Client,
  identifyClient,
} from "../lib/admission/admit.ts";
import { refuse } from "../lib/admission/refuse.ts";
import { type Refusal, refusal } from "../lib/refusals.ts";
import { serveEcho } from "../lib/connection/echo_connection.ts";
import {
  decideUpgrade,
  type UpgradeEndpoint,
} from "../lib/connection/upgrade.ts";
import type { PresenceEvent, RoomRefusal } from "../lib/rooms/registry.ts";
import { parseRoomName, ROOM_NAME_RULE } from "../lib/rooms/room_name.ts";
import type { AppEnv, Services } from "../lib/services.ts";
import { SSE_RETRY_MS } from "../lib/connection/event_stream.ts";

/** A member's options: `self=1` sends its own messages back to it too. */
const roomQuery = z.object({
  self: z.optional(z.enum(["0", "1"], { error: "expected 0 or 1" })),
});

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
  try {
    const upgraded = Deno.upgradeWebSocket(request, {
      ...(decision.protocol ? { protocol: decision.protocol } : {}),
      idleTimeout: services.config.pingIntervalSeconds,
    });
    serveEcho(upgraded.socket, {
      services,
      lease,
      ip: client.ip,
      id: decision.id,
      echo: decision.echo,
      prelude: decision.prelude,
      closeCommands: false,
      relay: membership,
    });
    return upgraded.response;
  } catch (error) {
    lease.release();
    membership.closed();
    return refuse(
      services,
      client,
      refusal("bad_handshake", {
        detail: `Cannot upgrade: ${(error as Error).message}`,
      }),
    );
  }
}

/** `/room/NAME` as an upgrade endpoint: `self=` and a room not full. */
function roomEndpoint(
  services: Services,
  name: string,
  path: string,
): UpgradeEndpoint<MemberOptions> {
  return {
    path,
    options: (params) => {
      const parsed = roomQuery.safeParse(Object.fromEntries(params));
      if (parsed.success) return { own: { self: parsed.data.self === "1" } };
      const issue = parsed.error.issues[0]!;
      return refusal("bad_options", {
        detail: `Invalid option "${
          String(issue.path[0])
        }": ${issue.message}\n\nOptions:\n  self: 1 to receive your own messages too\n`,
      });
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
 * `/room/NAME/presence`: a `presence` event with the member count now and
 * after every change, until SSE_LIFETIME_SECONDS. A reader that falls behind
 * gets only the latest count, so it holds at most one event.
 */
function presenceStream(
  services: Services,
  who: Client,
  name: string,
  c: Parameters<typeof streamSSE>[0],
): Response | Promise<Response> {
  const { config, rooms, log, ids } = services;
  const full = roomRefusalFor(services, name);
  if (full && full.reason !== "room_full") return refuse(services, who, full);
  const lease = admitClient(services, who);
  if (lease instanceof Response) return lease;
  const id = ids.next();
  const startedAt = performance.now();
  return streamSSE(c, async (stream) => {
    const { promise: ended, resolve: end } = Promise.withResolvers<string>();
    lease.track({ close: (reason) => end(reason.reason) });
    stream.onAbort(() => end("client went away"));
    const lifetime = setTimeout(
      () => end(`lifetime of ${config.sseLifetimeSeconds} s reached`),
      config.sseLifetimeSeconds * 1000,
    );
    let events = 0;
    let writing = false;
    let latest: PresenceEvent | undefined;
    const write = async () => {
      writing = true;
      while (latest && !stream.aborted) {
        const event = latest;
        latest = undefined;
        await stream.writeSSE({
          event: "presence",
          data: JSON.stringify(event),
          id: String(++events),
          ...(events === 1 ? { retry: SSE_RETRY_MS } : {}),
        });
      }
      writing = false;
    };
    const unwatch = rooms.watch(name, (event) => {
      latest = event;
      if (!writing) write().catch(() => end("client went away"));
    });
    let why = "";
    try {
      if (typeof unwatch === "string") {
        why = unwatch;
        return;
      }
      why = await ended;
      unwatch();
    } finally {
      clearTimeout(lifetime);
      lease.release();
      log({
        event: "sse_close",
        id,
        ip: who.ip,
        path: who.path,
        reason: why,
        durationMs: Math.round(performance.now() - startedAt),
        events,
      });
    }
  });
}
