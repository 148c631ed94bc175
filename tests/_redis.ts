/**
 * A real redis-server for tests (re-exported from bench/redis.ts, which the
 * room benchmark shares).
 *
 * @module
 */
export { REDIS_SERVER, startRedis, type TestRedis } from "../bench/redis.ts";
