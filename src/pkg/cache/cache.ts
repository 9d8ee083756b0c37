import { Redis } from "@upstash/redis/cloudflare";
import type { CacheConfig } from "../config/config.ts";

/** The cache as the rest of the code sees it. Redis is an optimisation: callers survive its absence. */
export interface Cache {
  readonly enabled: boolean;
  get<T>(key: string): Promise<T | null>;
  set(key: string, value: unknown, options: { ttlSeconds: number }): Promise<void>;
  delete(key: string): Promise<void>;
  /** Round trip to the server; throws when it is unreachable. */
  ping(): Promise<void>;
  /** The underlying client, for commands the interface does not cover. */
  readonly redis: Redis | undefined;
}

/**
 * Upstash Redis over its REST API. One attempt, bounded in time (`config.timeoutMs`, REDIS_TIMEOUT_MS,
 * per command): a slow cache must not slow the API.
 */
export function createRedisCache(config: CacheConfig): Cache {
  const redis = new Redis({
    url: config.url,
    token: config.token,
    enableTelemetry: false,
    retry: false,
    signal: () => AbortSignal.timeout(config.timeoutMs),
  });
  return {
    enabled: true,
    redis,
    get: (key) => redis.get(key),
    async set(key, value, { ttlSeconds }) {
      await redis.set(key, value, { ex: ttlSeconds });
    },
    async delete(key) {
      await redis.del(key);
    },
    async ping() {
      const answer = await redis.ping();
      if (answer !== "PONG") throw new Error(`unexpected PING answer ${JSON.stringify(answer)}`);
    },
  };
}

/** The cache when none is configured (local development without redis-server): always a miss. */
export const disabledCache: Cache = {
  enabled: false,
  redis: undefined,
  get: async () => null,
  set: async () => {},
  delete: async () => {},
  ping: async () => {},
};
