/**
 * The last step of every WebSocket endpoint (`/echo`, `/close`, `/inspect`,
 * `/stream`, `/room/NAME`): an admitted request (`upgrade.ts` decided it) is
 * upgraded with `Deno.upgradeWebSocket` and its socket handed to the echo
 * connection, which takes over the slot. A handshake Deno refuses frees the
 * slot and is answered 400 `bad_handshake` with Deno's reason.
 *
 * @module
 */
import { refuse } from "../admission/refuse.ts";
import { refusal } from "../refusals.ts";
import type {
  ConnectionOptions,
  ConnectionServices,
  Relay,
} from "./connection_options.ts";
import type { RefusalLog } from "../admission/refusal_log.ts";
import { serveEcho } from "./echo_connection.ts";
import type { Admitted } from "./upgrade.ts";

/**
 * The 101's header naming the connection (`<instance>-<n>`, `lib/ids.ts`):
 * the `id=` of its close log line, and before the dash the instance (or
 * `deno serve --parallel` worker) that serves it, which `/inspect` reports
 * as `server`. Every endpoint sends it, so a client that sees the handshake
 * (curl, a proxy's log, a raw client) learns where it landed even on
 * `/room/NAME`, which adds nothing to the WebSocket stream.
 *
 * The `X-` prefix is kept on purpose, although RFC 6648 (BCP 178, §3) asks
 * new names to go without it: the harm it guards against, one field under
 * two spellings once others adopt it and it is standardized, needs a name
 * others have a use for, and this one names this service's own
 * connections; `X-Request-Id`, which proxies and log formats already show,
 * is the pattern operators look for; and the name is in README and tested
 * (`handshake_test.ts`, `workers_test.ts`), so a rename would break its
 * readers for no gain. `Connection-Id` would also read like part of the
 * hop-by-hop `Connection` field.
 */
export const CONNECTION_ID_HEADER = "x-connection-id";

/**
 * Upgrades `request` with the decision's subprotocol (in the 101's
 * Sec-WebSocket-Protocol; Deno's own check would refuse a list without
 * spaces, ext/http/02_websocket.ts), the connection's id
 * ({@link CONNECTION_ID_HEADER}), and Deno's ping every
 * PING_INTERVAL_SECONDS, and starts echoing on the socket (to the room
 * `relay` stands for, when given).
 *
 * @returns The 101 response, or the 400 refusal when Deno refuses the
 * handshake (the slot is freed, and `relay` told it is closed).
 * @throws What a bug throws, after freeing the slot: `onError` answers 500.
 */
export function upgradeAndServe(
  services: ConnectionServices & { refusalLog: RefusalLog },
  request: Request,
  admitted: Admitted<unknown>,
  relay?: Relay,
): Response {
  const { client, lease, protocol, stream } = admitted;
  try {
    let upgraded: ReturnType<typeof Deno.upgradeWebSocket>;
    try {
      upgraded = Deno.upgradeWebSocket(request, {
        idleTimeout: services.config.pingIntervalSeconds,
      });
    } catch (error) {
      lease.release();
      relay?.closed();
      return refuse(
        services,
        client,
        refusal("bad_handshake", {
          detail: `Cannot upgrade: ${(error as Error).message}`,
        }),
      );
    }
    // Set here, not as Deno's `protocol` option: Deno 2.9 checks that
    // option against the header split on ", " and refuses "chat,v2" (the
    // list Node's ws sends), which RFC 7230 allows; the decision already
    // parsed the list (spaces optional) and chose the first.
    if (protocol) {
      upgraded.response.headers.set("sec-websocket-protocol", protocol);
    }
    upgraded.response.headers.set(CONNECTION_ID_HEADER, admitted.id);
    const options: ConnectionOptions = {
      services,
      lease,
      ip: client.ip,
      peer: admitted.peer,
      id: admitted.id,
      echo: admitted.echo,
      prelude: admitted.prelude,
      closeCommands: admitted.closeCommands,
    };
    // Set when given, not spread: no object per upgrade for an absent one.
    if (stream) options.stream = stream;
    if (relay) options.relay = relay;
    serveEcho(upgraded.socket, options);
    return upgraded.response;
  } catch (error) {
    // A bug must not keep the slot or the place in a room.
    lease.release();
    relay?.closed();
    throw error;
  }
}
