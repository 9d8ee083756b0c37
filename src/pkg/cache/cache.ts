import { Redis } from "@upstash/redis/cloudflare";
import type { CacheConfig } from "../config/config.ts";
import { timeCall } from "../metrics/recorder.ts";

/**
 * The cache as the rest of the code sees it. Redis is an optimisation: callers survive its absence.
 * Each method is one Upstash REST request (one round trip); values are stored as JSON. Every method
 * but the disabled cache's rejects when the server is unreachable, refuses the request
 * (`UpstashError`), or has not answered within `CacheConfig.timeoutMs` (`REDIS_TIMEOUT_MS`, default
 * 1,000 ms; the rejection is then the fetch's `TimeoutError` `DOMException`): callers catch and
 * carry on without the cache.
 */
export interface Cache {
  /** False for `disabledCache` (no Redis configured): every read misses, every write is dropped. */
  readonly enabled: boolean;
  /** The value stored at `key` (JSON-parsed), or null when absent or expired. */
  get<T>(key: string): Promise<T | null>;
  /** Stores `value` as JSON for `ttlSeconds` seconds (Redis `SET … EX`). */
  set(key: string, value: unknown, options: { ttlSeconds: number }): Promise<void>;
  /** Removes `key`; no error when it is absent. */
  delete(key: string): Promise<void>;
  /** Round trip to the server (Redis `PING`); throws when it is unreachable or answers other than `PONG`. */
  ping(): Promise<void>;
  /** The underlying client, for commands the interface does not cover. */
  readonly redis: Redis | undefined;
}

/** What one Upstash REST request does, for metrics: `pipeline`, `multi-exec`, or the command (`GET`). */
function redisOperation(request: { path?: string[]; body?: unknown }): string {
  const path = request.path?.[0];
  if (path === "pipeline" || path === "multi-exec") return path;
  const command = Array.isArray(request.body) ? request.body[0] : undefined;
  return typeof command === "string" && /^[a-z.]{1,32}$/i.test(command) ? command.toUpperCase() : "other";
}

/**
 * Upstash Redis over its REST API (Upstash docs, "REST API"). One attempt, no retry, bounded in
 * time (`config.timeoutMs`, REDIS_TIMEOUT_MS, per command): a slow cache must not slow the API.
 * Creating it opens nothing: each command is its own fetch.
 */
export function createRedisCache(config: CacheConfig): Cache {
  const redis = new Redis({
    url: config.url,
    token: config.token,
    enableTelemetry: false,
    retry: false,
    signal: () => AbortSignal.timeout(config.timeoutMs),
  });
  // Every REST request timed as a dependency call: the command's name, or `pipeline`/`multi-exec`.
  redis.use((request, next) => timeCall("redis", redisOperation(request), () => next(request)));
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
