import CRC32 from "crc-32";
import { type Actor, batchAsActor, firstRow, READ_ONLY } from "../db/actor.ts";
import type { HttpDatabase } from "../db/client.ts";
import {
  type ApiKey,
  insertApiKeyWithinCap,
  lockUserKeys,
  recordKeyEvent,
  revokeApiKeyRecord,
  selectApiKey,
  selectApiKeys,
  selectKeyCreationFacts,
} from "../db/queries/api-keys.ts";
import type { RequestOrigin } from "../db/queries/audit.ts";
import { PERMISSION_NAMES, type Permission } from "../db/schema/users.ts";
import type { KeyUsage, Principal } from "../durable-objects/sessions.ts";
import { constantTimeEqualText } from "../pkg/crypto/constant-time.ts";
import { sha256Hex } from "../pkg/crypto/digest.ts";
import { type EncryptionKeyInput, encryptionKeys } from "../pkg/crypto/secret-box.ts";
import { ApiError, invalidField } from "../pkg/errors/api-error.ts";
import { requireVerifiedEmail } from "./account-lifecycle.ts";
import { effectivePermissions } from "./permissions.ts";
import { DATA_SCOPES, type DataRights, type DataScope, dataRights } from "./scopes.ts";
import { type SessionsNamespace, withUserSessions } from "./user-sessions.ts";

/**
 * What every key starts with, so that people and secret scanners recognise one (GitHub's `ghp_`,
 * GitLab's `glpat-`).
 */
export const API_KEY_PREFIX = "tcp_";

/**
 * A key: the prefix, the owner's user id as 32 lowercase hex digits (it names the SESSIONS object
 * that authenticates the key, so the gateway needs nothing else), 24 random base62 characters (142
 * bits), an 8-character tag (an HMAC of everything before it under a key derived from
 * DATA_ENCRYPTION_KEY: a key we did not issue is refused in the isolate, so made-up keys naming
 * arbitrary users never reach, or create, a Durable Object), and a checksum: the CRC-32 of
 * everything before it as 6 base62 digits, so that a scanner can tell a real key from a look-alike
 * without asking us (as GitHub's tokens do). 74 characters, all of `[0-9A-Za-z_]`: a double-click
 * selects a whole key.
 */
export const API_KEY_PATTERN = /^tcp_([0-9a-f]{32})([0-9A-Za-z]{24})([0-9A-Za-z]{8})([0-9A-Za-z]{6})$/;

export type ApiKeyScope = DataScope | Permission;
/** Every scope a key may carry: the data scopes and the delegated permissions (held by the creator). */
export const API_KEY_SCOPES = [...DATA_SCOPES, ...PERMISSION_NAMES] as [ApiKeyScope, ...ApiKeyScope[]];

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** `length` random base62 characters, unbiased (bytes of 248 and above are drawn again). */
function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    for (const byte of crypto.getRandomValues(new Uint8Array(length * 2))) {
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}

/** `value` (a whole number below 62^digits) as exactly `digits` base62 digits. */
function base62Digits(value: number, digits: number): string {
  let rest = value;
  let out = "";
  for (let i = 0; i < digits; i++) {
    out = BASE62[rest % 62] + out;
    rest = Math.floor(rest / 62);
  }
  return out;
}

/** The CRC-32 (ISO-HDLC, as zlib computes it) of `text`'s UTF-8 bytes, as 6 base62 digits. */
export function keyChecksum(text: string): string {
  return base62Digits(CRC32.str(text) >>> 0, 6);
}

/** HMAC keys for key tags, by the configured secret they come from (imported once per isolate). */
const tagKeys = new Map<string, Promise<CryptoKey>>();

/**
 * The HMAC-SHA256 key of key tags: HKDF-SHA256 (RFC 5869) of DATA_ENCRYPTION_KEY with info
 * `techcorp:api-key-tag`, so it is no other use's key. A key is tagged under DATA_ENCRYPTION_KEY and
 * accepted under it or any DATA_ENCRYPTION_KEY_PREVIOUS: a key tagged under a key that is no longer
 * configured is refused (docs/runbook.md, "DATA_ENCRYPTION_KEY").
 */
function tagKey(secretBase64: string): Promise<CryptoKey> {
  let key = tagKeys.get(secretBase64);
  if (!key) {
    key = (async () => {
      const raw = Uint8Array.from(atob(secretBase64), (c) => c.charCodeAt(0));
      const master = await crypto.subtle.importKey("raw", raw, "HKDF", false, ["deriveKey"]);
      return crypto.subtle.deriveKey(
        {
          name: "HKDF",
          hash: "SHA-256",
          salt: new Uint8Array(32),
          info: new TextEncoder().encode("techcorp:api-key-tag"),
        },
        master,
        { name: "HMAC", hash: "SHA-256", length: 256 },
        false,
        ["sign"],
      );
    })();
    tagKeys.set(secretBase64, key);
  }
  return key;
}

/** The tag of a key's first part: its HMAC's first 6 bytes, reduced to 8 base62 digits (47 bits). */
async function keyTag(text: string, secretBase64: string): Promise<string> {
  const mac = new Uint8Array(
    await crypto.subtle.sign("HMAC", await tagKey(secretBase64), new TextEncoder().encode(text)),
  );
  const value = mac.slice(0, 6).reduce((n, byte) => n * 256 + byte, 0);
  return base62Digits(value % 62 ** 8, 8);
}

/**
 * A fresh key of `userId`, its SHA-256 (what is stored) and its last four characters (what is
 * shown). `tagSecret`: DATA_ENCRYPTION_KEY (base64), whose derived key tags it (the current one).
 */
export async function generateApiKey(
  userId: string,
  tagSecret: EncryptionKeyInput,
): Promise<{ key: string; hash: string; lastCharacters: string }> {
  const head = `${API_KEY_PREFIX}${userId.replaceAll("-", "").toLowerCase()}${randomBase62(24)}`;
  const body = `${head}${await keyTag(head, encryptionKeys(tagSecret).current)}`;
  const key = `${body}${keyChecksum(body)}`;
  return { key, hash: await sha256Hex(key), lastCharacters: key.slice(-4) };
}

/**
 * The owner of a key of ours (its user id as a uuid) and the hash to look it up by; undefined when
 * `text` is not one: wrong shape, a checksum that does not match (a typo, a truncated copy) or a tag
 * we did not make (a made-up key) under any configured key, each refused without a Durable Object
 * call. The tag is compared in constant time.
 */
export async function parseApiKey(
  text: string,
  tagSecret: EncryptionKeyInput,
): Promise<{ userId: string; hash: string } | undefined> {
  const match = API_KEY_PATTERN.exec(text);
  const given = match?.[3];
  if (!match?.[1] || !given || match[4] !== keyChecksum(text.slice(0, -6))) return undefined;
  const { current, previous } = encryptionKeys(tagSecret);
  const tags = await Promise.all([current, ...previous].map((secret) => keyTag(text.slice(0, -14), secret)));
  if (!tags.some((tag) => constantTimeEqualText(tag, given))) return undefined;
  const hex = match[1];
  const userId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { userId, hash: await sha256Hex(text) };
}

/** Whether a Bearer credential is meant as an API key (by its prefix), well-formed or not. */
export const looksLikeApiKey = (credential: string): boolean => credential.startsWith(API_KEY_PREFIX);

/**
 * What a key may do on this request: its scopes ∩ its owner's CURRENT principal, so that a demoted
 * or stripped owner's keys lose the power at once. The `admin` role itself is never delegated: a key
 * acts as a user holding the delegated permissions its scopes name.
 */
export function keyRights(
  scopes: readonly string[],
  principal: Principal,
): { permissions: Permission[]; data: DataRights } {
  const held = effectivePermissions(principal);
  return { permissions: held.filter((permission) => scopes.includes(permission)), data: dataRights(scopes) };
}

/**
 * How recent a sign-in creating a key needs, in seconds (RFC 9470 `max_age`): a key outlives the
 * session that made it, so a stolen or forgotten session must not mint one. As deleting the
 * account (`DELETION_MAX_AUTH_AGE_SECONDS`); ASVS v4.0.3 V3.7.1.
 */
export const API_KEY_CREATION_MAX_AUTH_AGE_SECONDS = 300;

/** What the key functions need: Postgres in the HTTP mode, the SESSIONS objects, the configured limits. */
export interface ApiKeyDeps {
  http: HttpDatabase;
  sessions: SessionsNamespace;
  /** DATA_ENCRYPTION_KEY (and the previous keys): the key tags' HMAC keys are derived from them. */
  tagSecret: EncryptionKeyInput;
  limits: {
    /** Lifetime (ms) of a key created without `expiresAt`. */
    defaultLifetimeMs: number;
    /** The longest lifetime (ms) a key may be given. */
    maxLifetimeMs: number;
    /** Unrevoked keys a user may hold. */
    perUser: number;
    /**
     * The longest lifetime (ms) of a key carrying a delegated permission scope (`users:read`…):
     * the staff session maximum (STAFF_SESSION_MAX_AGE_SECONDS), so a key never outlives what a
     * staff sign-in may; also its default lifetime.
     */
    delegatedMaxLifetimeMs: number;
  };
}

/** What creating a key takes; the creator is a signed-in user (never another key). */
export interface CreateApiKey {
  /** The creator, who will own the key, as row-level security sees them. */
  actor: Actor;
  userId: string;
  /** The permissions the creator holds now (the session's), the bound of the delegated scopes. */
  held: readonly Permission[];
  name: string;
  scopes: readonly ApiKeyScope[];
  projectId: string | null;
  /** Absent: `limits.defaultLifetimeMs` from now. */
  expiresAt: Date | undefined;
  origin: RequestOrigin;
}

/**
 * Creates a key: the record and its `api_key.created` event in one HTTP batch (one round trip,
 * under a per-user advisory lock so concurrent creations keep to the cap), then its live copy in
 * the owner's SESSIONS object (one call). Returns the record, the key, which is never shown
 * again (only its hash is kept), and the owner's address (to tell them).
 * A key with a delegated permission scope lives at most `limits.delegatedMaxLifetimeMs`.
 * @throws ApiError `forbidden` (403) for a delegated scope the creator does not hold, or an
 *   unverified address (`emailVerification: "required"`, admins exempt: `requireVerifiedEmail`);
 *   `validation_failed` (400, pointer `/expiresAt`) for an expiry not in the future or past the
 *   maximum; `not_found` (404) for a project the creator is not a member of; `conflict` (409) at
 *   the per-user cap; DependencyError("sessions") when the SESSIONS object cannot be reached (the
 *   record is then revoked, best effort, so no listed key is half made).
 */
export async function createApiKey(
  deps: ApiKeyDeps,
  input: CreateApiKey,
  now = new Date(),
): Promise<{ record: ApiKey; key: string; ownerEmail: string | null }> {
  const beyond = input.scopes.find(
    (scope) => !(DATA_SCOPES as readonly string[]).includes(scope) && !input.held.includes(scope as Permission),
  );
  if (beyond) {
    throw new ApiError("forbidden", {
      detail: `The scope "${beyond}" is a permission you do not hold: a key can only be given what its creator holds.`,
    });
  }
  const delegated = input.scopes.some((scope) => !(DATA_SCOPES as readonly string[]).includes(scope));
  const maxLifetimeMs = delegated
    ? Math.min(deps.limits.delegatedMaxLifetimeMs, deps.limits.maxLifetimeMs)
    : deps.limits.maxLifetimeMs;
  const expiresAt = input.expiresAt ?? new Date(now.getTime() + Math.min(deps.limits.defaultLifetimeMs, maxLifetimeMs));
  if (expiresAt.getTime() <= now.getTime()) throw invalidField("body", "/expiresAt", "must be in the future");
  if (expiresAt.getTime() > now.getTime() + maxLifetimeMs) {
    const bound =
      maxLifetimeMs >= 86_400_000
        ? `${Math.round(maxLifetimeMs / 86_400_000)} days`
        : `${Math.round(maxLifetimeMs / 1000)} seconds`;
    const why = delegated ? " for a key with a delegated permission scope (the staff session maximum)" : "";
    throw invalidField("body", "/expiresAt", `must be at most ${bound} from now${why}`);
  }
  const { userId } = input;
  const { key, hash, lastCharacters } = await generateApiKey(userId, deps.tagSecret);
  const record = {
    id: crypto.randomUUID(),
    userId,
    projectId: input.projectId,
    name: input.name,
    scopes: [...new Set(input.scopes)],
    secretHash: hash,
    lastCharacters,
    expiresAt,
  };
  const [, facts, inserted] = await batchAsActor(deps.http, input.actor, (db) => [
    lockUserKeys(db, userId),
    selectKeyCreationFacts(db, { userId, projectId: input.projectId }),
    insertApiKeyWithinCap(db, record, deps.limits.perUser),
    recordKeyEvent(db, {
      action: "api_key.created",
      keyId: record.id,
      actorId: userId,
      targetUserId: userId,
      origin: input.origin,
      details: {
        name: record.name,
        scopes: record.scopes,
        projectId: record.projectId,
        expiresAt: expiresAt.toISOString(),
      },
    }),
  ]);
  const row = firstRow(inserted);
  const fact = firstRow(facts);
  if (!row) {
    requireVerifiedEmail(
      fact?.role ? { emailVerified: fact.emailVerified, role: fact.role } : undefined,
      "create an API key",
    );
    if (input.projectId && !fact?.projectRole) {
      throw new ApiError("not_found", { detail: `No project ${input.projectId} of which you are a member.` });
    }
    throw new ApiError("conflict", {
      detail: `You hold ${deps.limits.perUser} unrevoked keys, the most allowed: revoke one first.`,
    });
  }
  try {
    await withUserSessions(deps.sessions, userId, (stub) =>
      stub.addKey({ id: row.id, hash, scopes: row.scopes, projectId: row.projectId, expiresAt: expiresAt.getTime() }),
    );
  } catch (error) {
    // The key was never usable; mark its record so (best effort: a record left unrevoked is listed
    // but authenticates nothing, and revoking it works).
    await batchAsActor(deps.http, input.actor, (db) => [
      revokeApiKeyRecord(db, { userId, id: row.id, revokedBy: userId }),
    ]).catch(() => undefined);
    throw error;
  }
  return { record: row, key, ownerEmail: fact?.email ?? null };
}

/**
 * A key record as listed: its durable record and its last use, from the owner's SESSIONS object
 * while the key is live, from the record once revoked.
 */
export type ListedApiKey = Omit<ApiKey, "lastUsedAt" | "lastUsedIp"> & KeyUsage;

const withUsage = (row: ApiKey, usage: Record<string, KeyUsage>): ListedApiKey => ({
  ...row,
  lastUsedAt: usage[row.id]?.lastUsedAt ?? row.lastUsedAt?.getTime() ?? null,
  lastUsedIp: usage[row.id]?.lastUsedIp ?? row.lastUsedIp,
});

/**
 * The keys of `userId`, newest first, revoked ones included, with their last use: one read-only
 * HTTP batch, and the owner's SESSIONS object unless `usage` (read with the gateway's call) is given.
 * @throws DependencyError("sessions") when the object cannot be reached
 */
export async function listApiKeys(
  deps: Pick<ApiKeyDeps, "http" | "sessions">,
  input: { actor: Actor; userId: string; usage?: Record<string, KeyUsage> | undefined },
): Promise<ListedApiKey[]> {
  const [[rows], usage] = await Promise.all([
    batchAsActor(deps.http, input.actor, (db) => [selectApiKeys(db, { userId: input.userId })], READ_ONLY),
    input.usage ?? withUserSessions(deps.sessions, input.userId, (stub) => stub.keyUsage()),
  ]);
  return rows.map((row) => withUsage(row, usage));
}

/** One key of `userId` with its last use, as `listApiKeys` shows it; undefined when there is none. */
export async function readApiKey(
  deps: Pick<ApiKeyDeps, "http" | "sessions">,
  input: { actor: Actor; userId: string; id: string; usage?: Record<string, KeyUsage> | undefined },
): Promise<ListedApiKey | undefined> {
  const [[rows], usage] = await Promise.all([
    batchAsActor(deps.http, input.actor, (db) => [selectApiKey(db, { userId: input.userId, id: input.id })], READ_ONLY),
    input.usage ?? withUserSessions(deps.sessions, input.userId, (stub) => stub.keyUsage()),
  ]);
  const row = firstRow(rows);
  return row && withUsage(row, usage);
}

/**
 * Revokes a key of `userId` (by its owner, or an administrator: `actorId`, as `actor`): first its live copy is dropped
 * from the owner's SESSIONS object (refused from the next request; its last use comes back), then
 * the record (revoked, with that last use) and its `api_key.revoked` event in one HTTP batch.
 * Should the batch fail, the key is already refused and a retry completes the record. Idempotent:
 * revoking a revoked key succeeds again; the event is recorded once.
 * @returns false when `userId` has no key `id`
 * @throws DependencyError("sessions") when the object cannot be reached (nothing changed)
 */
export async function revokeApiKey(
  deps: Pick<ApiKeyDeps, "http" | "sessions">,
  input: { actor: Actor; actorId: string; userId: string; id: string; origin: RequestOrigin },
): Promise<boolean> {
  const usage = await withUserSessions(deps.sessions, input.userId, (stub) => stub.removeKey(input.id));
  const [revoked] = await batchAsActor(deps.http, input.actor, (db) => [
    revokeApiKeyRecord(db, {
      userId: input.userId,
      id: input.id,
      revokedBy: input.actorId,
      lastUsedAt: usage?.lastUsedAt ? new Date(usage.lastUsedAt) : null,
      lastUsedIp: usage?.lastUsedIp ?? null,
    }),
    recordKeyEvent(db, {
      action: "api_key.revoked",
      keyId: input.id,
      actorId: input.actorId,
      targetUserId: input.userId,
      origin: input.origin,
      details: {},
    }),
  ]);
  return firstRow(revoked) !== undefined;
}
