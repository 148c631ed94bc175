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
// A static import, though only REDIS_URL uses it: the bundler wraps a module
// it reaches by a dynamic import, and all it imports (zod among them), in a
// lazy initialiser, which took 4.3 M instructions more to evaluate the
// bundle (callgrind, BENCHMARKS.md fourteenth round). The `redis` package
// itself is still imported only when REDIS_URL is set (`connectRedis`).
import { connectRedis } from "../rooms/redis_bridge.ts";
import type { Services } from "../services.ts";

/** Which bridge {@link connectRooms} chose. */
export type BridgeKind = "redis" | "broadcast" | "none";

/** What {@link connectRooms} started. */
export interface RoomsConnection {
  kind: BridgeKind;
  /**
   * Settles once the bridge's code is loaded and it has begun to connect
   * (not once it is connected; a failure is logged, not thrown): at once but
   * for Redis. Loading the Redis client holds the event loop for 0.3-1 s
   * (measured, `await import("redis")` beside a 10 ms interval), more under
   * load, since Deno resolves npm packages reached by a dynamic import only
   * when it runs (`lazy-dynamic-imports` in deno.json, which keeps that
   * resolution off every start without REDIS_URL). The entry points wait for
   * it before they listen, so no client meets that pause and the overload
   * watch, which starts with the listener, does not take it for a stall.
   */
  loaded: Promise<void>;
}

/**
 * Attaches the bridge the configuration and the serve mode call for. The
 * Redis client is imported only when REDIS_URL is set, off the start-up
 * path of everyone else.
 */
export function connectRooms(
  services: Pick<Services, "config" | "rooms" | "ids" | "log">,
  mode: "run" | "serve",
): RoomsConnection {
  const { config, rooms, ids, log } = services;
  const loaded = Promise.resolve();
  if (config.maxRooms === 0) return { kind: "none", loaded };
  if (config.redisUrl !== undefined) {
    const url = config.redisUrl;
    return {
      kind: "redis",
      loaded: connectRedis(url, ids.instance, rooms, log).then((bridge) =>
        rooms.attach(bridge)
      ).catch((error) => {
        log({ event: "error", message: `Redis bridge: ${error}` });
      }),
    };
  }
  if (mode === "serve") {
    rooms.attach(new BroadcastBridge(ids.instance, rooms));
    return { kind: "broadcast", loaded };
  }
  return { kind: "none", loaded };
}
