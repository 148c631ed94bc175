/**
 * `/room/NAME`: a WebSocket whose messages reach every other member of the
 * room NAME unchanged (`self=1`: the sender's too), and `/room/NAME/presence`:
 * a Server-Sent Events stream of the room's member count, so a member learns
 * of joins and leaves without anything added to its WebSocket stream. Every
 * refusal goes through `lib/admission/refusals.ts`; the rooms themselves live
 * in `lib/rooms/`.
 *
 * @module
 */
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import {
  admitClient,
  type Client,
  previewAdmission,
} from "../lib/admission/admit.ts";
import { clientIp, clientKey } from "../lib/admission/client_ip.ts";
import { refuse } from "../lib/admission/refuse.ts";
import { handshakeRefusal, type Refusal, refusal } from "../lib/refusals.ts";
import { serveEcho } from "../lib/connection/echo_connection.ts";
import { PLAIN_ECHO } from "../lib/connection/parse_options.ts";
import { checkHandshake, webSocketUrl } from "../lib/protocol/handshake.ts";
import type { PresenceEvent, RoomRefusal } from "../lib/rooms/registry.ts";
import { parseRoomName, ROOM_NAME_RULE } from "../lib/rooms/room_name.ts";
import type { AppEnv, Services } from "../lib/services.ts";
import { SSE_RETRY_MS } from "../lib/connection/event_stream.ts";

/** A member's options: `self=1` sends its own messages back to it too. */
const roomQuery = z.object({
  self: z.enum(["0", "1"], { error: "expected 0 or 1" }).optional(),
});

const NO_PRELUDE: readonly string[] = [];

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
    const ip = clientIp(
      peer?.hostname,
      request.headers,
      services.config.trustProxy,
    );
    const who: Client = {
      kind: presence ? "sse" : "ws",
      path: c.req.path,
      ip,
      key: clientKey(ip, services.config.ipv6PrefixLength),
      origin: request.headers.get("origin") ?? undefined,
    };
    if (name === undefined) {
      return refuse(
        services,
        who,
        refusal("bad_room_name", { rule: ROOM_NAME_RULE }),
      );
    }
    if (presence) return presenceStream(services, who, name, c);
    return upgrade(services, who, name, request, peer);
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

/** The WebSocket side: checks, admission, a place in the room, the upgrade. */
function upgrade(
  services: Services,
  who: Client,
  name: string,
  request: Request,
  peer: Deno.NetAddr | undefined,
): Response {
  const { config, rooms, ids } = services;
  let self = false;
  if (request.url.includes("?")) {
    const params = Object.fromEntries(new URL(request.url).searchParams);
    const parsed = roomQuery.safeParse(params);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return refuse(
        services,
        who,
        refusal("bad_options", {
          detail: `Invalid option "${
            String(issue.path[0])
          }": ${issue.message}\n\nOptions:\n  self: 1 to receive your own messages too\n`,
        }),
      );
    }
    self = parsed.data.self === "1";
  }
  const headers = request.headers;
  const checked = checkHandshake(headers);
  if ("reason" in checked) {
    // A plain GET learns first what an upgrade would meet.
    const instead = checked.reason === "plain_http"
      ? previewAdmission(services, who) ?? roomRefusalFor(services, name)
      : undefined;
    return refuse(
      services,
      who,
      instead ?? handshakeRefusal(checked, () => {
        const secure = config.trustProxy > 0
          ? headers.get("x-forwarded-proto") === "https" || undefined
          : undefined;
        return webSocketUrl(request.url, secure);
      }),
    );
  }
  if (peer?.hostname === "0.0.0.0" || peer?.hostname === "::") {
    return refuse(services, who, refusal("client_gone"));
  }
  const full = roomRefusalFor(services, name);
  if (full) return refuse(services, who, full);
  const lease = admitClient(services, who);
  if (lease instanceof Response) return lease;
  const membership = rooms.join(name, { self });
  if (typeof membership === "string") {
    lease.release();
    return refuse(services, who, roomRefusal(membership, name, services));
  }
  try {
    const protocol = checked.protocols[0];
    const upgraded = Deno.upgradeWebSocket(request, {
      ...(protocol ? { protocol } : {}),
      idleTimeout: config.pingIntervalSeconds,
    });
    serveEcho(upgraded.socket, {
      services,
      lease,
      ip: who.ip,
      id: ids.next(),
      echo: PLAIN_ECHO,
      prelude: NO_PRELUDE,
      closeCommands: false,
      relay: membership,
    });
    return upgraded.response;
  } catch (error) {
    lease.release();
    membership.closed();
    return refuse(
      services,
      who,
      refusal("bad_handshake", {
        detail: `Cannot upgrade: ${(error as Error).message}`,
      }),
    );
  }
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
