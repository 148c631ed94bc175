/**
 * Connects the rooms to the other instances at start-up: through Redis when
 * REDIS_URL is set (every instance and every worker that uses it), else
 * through `BroadcastChannel` under `deno serve` (the workers of one process),
 * else not at all (`deno run`: one process, one set of rooms). Exactly one
 * bridge runs, so a message never reaches a member by two paths.
 *
 * @module
 */
import { BroadcastBridge } from "../rooms/broadcast_bridge.ts";
import type { Services } from "../services.ts";

/** Which bridge {@link connectRooms} chose. */
export type BridgeKind = "redis" | "broadcast" | "none";

/**
 * Attaches the bridge the configuration and the serve mode call for. The
 * Redis client is imported only when REDIS_URL is set, off the start-up
 * path of everyone else.
 */
export function connectRooms(
  services: Pick<Services, "config" | "rooms" | "ids" | "log">,
  mode: "run" | "serve",
): BridgeKind {
  const { config, rooms, ids, log } = services;
  if (config.maxRooms === 0) return "none";
  if (config.redisUrl !== undefined) {
    const url = config.redisUrl;
    import("../rooms/redis_bridge.ts").then(({ connectRedis }) =>
      connectRedis(url, ids.instance, rooms, log)
    ).then((bridge) => rooms.attach(bridge)).catch((error) => {
      log({ event: "error", message: `Redis bridge: ${error}` });
    });
    return "redis";
  }
  if (mode === "serve") {
    rooms.attach(new BroadcastBridge(ids.instance, rooms));
    return "broadcast";
  }
  return "none";
}
