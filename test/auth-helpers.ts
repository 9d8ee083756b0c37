import { syncPrincipal } from "../src/auth/auth-service.ts";
import { newTotpSecret } from "../src/auth/totp.ts";
import { asActor, SYSTEM } from "../src/db/actor.ts";
import { openDatabase } from "../src/db/client.ts";
import { grantPermission, putPendingMfa, updateMfa, updateUser } from "../src/db/queries/users.ts";
import type { Permission } from "../src/db/schema/users.ts";
import { loadApiConfig } from "../src/pkg/config/config.ts";
import { createSecretBox } from "../src/pkg/crypto/secret-box.ts";
import { api, type ProblemJson, testEnv } from "./helpers.ts";

export interface UserJson {
  id: string;
  email: string;
  username: string;
  role: string;
  status: string;
  displayName: string | null;
  preferences: Record<string, unknown>;
}

export interface Tokens {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
}

export const PASSWORD = "correct horse battery staple";

/** A fresh address per caller, so throttling by IP never couples tests. */
export function randomIp(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(3));
  return `10.${bytes[0]}.${bytes[1]}.${bytes[2]}`;
}

export function uniqueName(prefix = "user"): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 12)}`;
}

export async function register(overrides: Partial<{ email: string; username: string; password: string }> = {}) {
  const username = overrides.username ?? uniqueName();
  const body = {
    email: overrides.email ?? `${username}@example.com`,
    username,
    password: overrides.password ?? PASSWORD,
  };
  const res = await api("/users", {
    method: "POST",
    headers: { "content-type": "application/json", "cf-connecting-ip": randomIp() },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`registration failed: ${res.status} ${await res.text()}`);
  return { user: (await res.json()) as UserJson, password: body.password };
}

/** POST /auth/token with a form body, as OAuth clients send it. */
export function tokenRequest(fields: Record<string, string>, ip = randomIp()): Promise<Response> {
  return api("/auth/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": ip },
    body: new URLSearchParams(fields).toString(),
  });
}

export async function login(username: string, password = PASSWORD): Promise<Tokens> {
  const res = await tokenRequest({ grant_type: "password", username, password });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as Tokens;
}

/**
 * Marks the user's address verified, as following the mailed link would (an account that has not
 * cannot share documents or invite to projects): the test accounts most tests act with.
 */
export async function markEmailVerified(user: UserJson): Promise<void> {
  const handle = openDatabase(loadApiConfig(testEnv).database);
  try {
    await asActor(handle.db, SYSTEM, (tx) => updateUser(tx, { id: user.id, changes: { emailVerified: true } }));
  } finally {
    await handle.close();
  }
  Object.assign(user, { emailVerified: true });
}

/** A registered, logged-in user, its address verified (`register` + `login` for an unverified one). */
export async function signedIn() {
  const { user, password } = await register();
  await markEmailVerified(user);
  const tokens = await login(user.username, password);
  return { user, password, tokens, auth: { authorization: `Bearer ${tokens.access_token}` } };
}

/**
 * Turns MFA on for the user directly (as if they had enrolled), with a fresh TOTP secret, without
 * touching their sessions. Returns the base32 secret.
 */
export async function enrolMfaDirectly(userId: string): Promise<string> {
  const config = loadApiConfig(testEnv);
  const handle = openDatabase(config.database);
  const secret = newTotpSecret();
  const sealed = await (await createSecretBox(config.encryptionKey)).seal(secret);
  try {
    await asActor(handle.db, SYSTEM, async (tx) => {
      await putPendingMfa(tx, { userId, secretCiphertext: sealed });
      await updateMfa(tx, { userId, changes: { enabledAt: new Date() } });
    });
  } finally {
    await handle.close();
  }
  return secret;
}

/**
 * Changes a user's role or permissions directly (as an operator would), and updates their sessions.
 * Staff must use a second factor (required action CONFIGURE_TOTP): unless `mfa` is false, a user
 * made staff gets MFA turned on first (`enrolMfaDirectly`), so their session keeps working.
 */
export async function promote(
  userId: string,
  change: { role?: "admin" | "user"; permissions?: Permission[] },
  options: { mfa?: boolean } = {},
): Promise<string | undefined> {
  const config = loadApiConfig(testEnv);
  const staff = change.role === "admin" || (change.permissions ?? []).length > 0;
  const mfaSecret = staff && options.mfa !== false ? await enrolMfaDirectly(userId) : undefined;
  const handle = openDatabase(config.database);
  try {
    await asActor(handle.db, SYSTEM, async (tx) => {
      if (change.role) await updateUser(tx, { id: userId, changes: { role: change.role } });
      for (const permission of change.permissions ?? []) {
        await grantPermission(tx, { userId, permission, grantedBy: null });
      }
    });
    await syncPrincipal({ http: handle.http, sessions: testEnv.SESSIONS }, userId);
  } finally {
    await handle.close();
  }
  return mfaSecret;
}

/** A signed-in administrator, with MFA on (`mfaSecret`: the base32 TOTP secret). */
export async function signedInAdmin() {
  const admin = await signedIn();
  const mfaSecret = (await promote(admin.user.id, { role: "admin" })) ?? "";
  return { ...admin, mfaSecret };
}

export function bearer(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` };
}

/** GET /users/me with this access token (whether it is accepted). */
export const me = (token: string) => api("/users/me", { headers: bearer(token) });

/**
 * POST /auth/refresh with a JSON body, from a fresh address each time: the login throttle counts
 * wrong refresh tokens per client.
 */
export const refresh = (refreshToken: string) =>
  api("/auth/refresh", {
    method: "POST",
    headers: { "content-type": "application/json", "cf-connecting-ip": randomIp() },
    body: JSON.stringify({ refresh_token: refreshToken }),
  });

export type OAuthErrorJson = ProblemJson & { error: string; error_description: string; mfa_token?: string };

/**
 * Asserts a token endpoint error as RFC 6749 §5.2 has it and OAuth clients read it:
 * `application/json`, `Cache-Control: no-store`, `error` (the code given) and `error_description`
 * in the allowed characters, beside the problem members this API puts in every error (RFC 9457,
 * with the request id). Returns the body.
 */
export async function expectOAuthError(res: Response, status: number, error: string): Promise<OAuthErrorJson> {
  const text = await res.text();
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${text}`);
  if (res.headers.get("content-type") !== "application/json") {
    throw new Error(`expected application/json, got ${res.headers.get("content-type")}`);
  }
  if (res.headers.get("cache-control") !== "no-store") {
    throw new Error(`expected Cache-Control: no-store, got ${res.headers.get("cache-control")}`);
  }
  const body = JSON.parse(text) as OAuthErrorJson;
  if (body.error !== error) throw new Error(`expected error ${error}: ${text}`);
  if (!/^[\x20\x21\x23-\x5b\x5d-\x7e]+$/.test(body.error_description ?? "")) {
    throw new Error(`error_description missing or outside RFC 6749 §5.2's characters: ${text}`);
  }
  for (const field of ["type", "title", "detail", "instance", "requestId"] as const) {
    if (typeof body[field] !== "string" || body[field] === "") throw new Error(`problem without ${field}: ${text}`);
  }
  if (body.status !== status) throw new Error(`problem status ${body.status} != ${status}`);
  if (body.requestId !== res.headers.get("x-request-id")) throw new Error("requestId differs from X-Request-ID");
  return body;
}
