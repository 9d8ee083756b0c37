import { generateApiKey } from "../src/auth/api-keys.ts";
import { randomIp } from "./auth-helpers.ts";
import { api, testEnv } from "./helpers.ts";
import { expectJson } from "./project-helpers.ts";

export interface ApiKeyJson {
  id: string;
  name: string;
  kind: "personal" | "project";
  prefix: string;
  lastCharacters: string;
  scopes: string[];
  projectId: string | null;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
  lastUsedIp: string | null;
}

export type CreatedApiKeyJson = ApiKeyJson & { key: string };

/** POST /api-keys as `auth` (a session's Bearer header), from a fresh address. */
export function postApiKey(auth: Record<string, string>, body: Record<string, unknown>): Promise<Response> {
  return api("/api-keys", {
    method: "POST",
    headers: { ...auth, "content-type": "application/json", "cf-connecting-ip": randomIp() },
    body: JSON.stringify(body),
  });
}

/** A key created by `auth` (201), named uniquely, with `scopes` (default `read` and `write`). */
export async function createApiKey(
  auth: Record<string, string>,
  body: Record<string, unknown> = {},
): Promise<CreatedApiKeyJson> {
  const res = await postApiKey(auth, {
    name: `key ${crypto.randomUUID().slice(0, 8)}`,
    scopes: ["read", "write"],
    ...body,
  });
  return expectJson<CreatedApiKeyJson>(res, 201);
}

/** The Authorization header of an API key. */
export const keyAuth = (key: string) => ({ authorization: `Bearer ${key}` });

/**
 * A well-formed key of `userId` placed straight into their SESSIONS object already expired
 * (`expiresAt` an hour ago): what a key looks like to the gateway once its expiry has passed,
 * without waiting for it.
 */
export async function expiredKeyOf(userId: string, scopes: string[] = ["read", "write"]): Promise<string> {
  const { key, hash } = await generateApiKey(userId, testEnv.DATA_ENCRYPTION_KEY);
  const stub = testEnv.SESSIONS.get(testEnv.SESSIONS.idFromName(userId));
  await stub.addKey({ id: crypto.randomUUID(), hash, scopes, projectId: null, expiresAt: Date.now() - 3_600_000 });
  return key;
}
