import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import type { ApiKeyDeps } from "../../auth/api-keys.ts";

/** What the key functions need from a request: Postgres (HTTP mode), the SESSIONS objects, the tag secret, API_KEY_* limits. */
export function apiKeyDeps(c: Context<AppEnv>): ApiKeyDeps {
  const { database, config } = c.get("services");
  return {
    http: database.http,
    sessions: c.env.SESSIONS,
    tagSecret: config.encryptionKey,
    limits: { ...config.auth.apiKeys, delegatedMaxLifetimeMs: config.auth.staffSessionMaxAgeMs },
  };
}
