import type { Context, MiddlewareHandler } from "hono";
import type { Actor } from "../db/actor.ts";
import type { HttpDatabase } from "../db/client.ts";
import type { AppEnv } from "./context.ts";

/**
 * Read-your-writes over a read replica. Neon's replicas lag by milliseconds to seconds, so a
 * caller who has just written may not find it on the replica. After a successful write by an
 * authenticated caller the API notes it in Redis for `DATABASE_READ_MAX_LAG_SECONDS`; while the
 * note lives, that caller's replica reads go to the primary. The same bound caps the lag a replica
 * read accepts (src/db/replica.ts), so once the note expires the replica has the write. Chosen over
 * a cookie or a header because API keys, the SDK and the CLI keep neither.
 */

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

const noteKey = (userId: string) => `primary-reads:v1:${userId}`;

/**
 * Notes a successful write (a non-safe method answered below 400) by an authenticated caller,
 * before the response leaves, so the caller's next request already reads from the primary. Does
 * nothing without a replica. A failed note is logged: the caller may then read their write late.
 */
export function readYourWrites(): MiddlewareHandler<AppEnv> {
  return async function readYourWrites(c, next) {
    await next();
    const { config, cache } = c.get("services");
    const replica = config.readReplica;
    const userId = c.get("auth")?.userId;
    if (!replica || !userId || SAFE_METHODS.has(c.req.method) || c.res.status >= 400 || !cache.enabled) return;
    await cache
      .set(noteKey(userId), 1, { ttlSeconds: replica.maxLagSeconds })
      .catch((error: unknown) => c.get("logger").warn("read-your-writes note failed", { error }));
  };
}

/**
 * The HTTP mode that reads which may be a little stale take for `actor`: the replica routing
 * (`DatabaseHandle.staleReads`), except for a user who wrote within the last
 * `DATABASE_READ_MAX_LAG_SECONDS` (or when that cannot be told: no cache, or Redis failed), whose
 * reads go to the primary. The system actor has no writes of its own to see: always the replica.
 * The choice is made once per request, on its first transaction.
 */
export function staleReadsFor(c: Context<AppEnv>, actor: Actor): HttpDatabase {
  const { database, cache, config } = c.get("services");
  if (!config.readReplica || actor.kind !== "user") return database.staleReads;
  const userId = actor.userId;
  let chosen: Promise<HttpDatabase> | undefined;
  const choose = async (): Promise<HttpDatabase> => {
    if (!cache.enabled) return database.http;
    const wrote = await cache.get<number>(noteKey(userId)).catch((error: unknown) => {
      c.get("logger").warn("read-your-writes check failed; reading from the primary", { error });
      return 1;
    });
    return wrote === null ? database.staleReads : database.http;
  };
  return {
    async transaction(build, options) {
      chosen ??= choose();
      return (await chosen).transaction(build, options);
    },
  };
}
