import { DurableObject } from "cloudflare:workers";
import { base64url } from "jose";
import { grantScope, scopedPrincipal } from "../auth/scopes.ts";
import type { Permission, UserRole, UserStatus } from "../db/schema/users.ts";
import { constantTimeEqualText } from "../pkg/crypto/constant-time.ts";
import { sha256, sha256Hex } from "../pkg/crypto/digest.ts";
import { type RateDecision, type RatePolicy, SlidingWindowLog, type WindowState } from "./sliding-window.ts";

/**
 * How long (ms, 30 s) the refresh token just rotated away still works, and then yields the very
 * token that replaced it: two refreshes racing from one legitimate client both end up holding the
 * same token. Any older token is a reuse and ends the session (RFC 9700 §4.14.2, refresh token
 * rotation with reuse detection).
 */
export const REFRESH_REUSE_GRACE_MS = 30_000;
/** Rotated-away refresh tokens remembered per session, to recognise a reuse. */
const RETIRED_KEPT = 50;

/**
 * One login of the user, as stored and as `GET /auth/sessions` lists it. Times are epoch
 * milliseconds. It ends at `expiresAt` or after `idleTimeoutMs` without use, whichever comes
 * first (OWASP Session Management Cheat Sheet: an idle and an absolute timeout).
 */
export interface Session {
  /** A random UUID: the token's `sid` claim. */
  id: string;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms of the last request or refresh that used it. */
  lastUsedAt: number;
  /** Absolute end, epoch ms (`createdAt` + the max age): the session dies then, however active. */
  expiresAt: number;
  /** Idle limit in ms: the session dies if unused this long (from `lastUsedAt`). */
  idleTimeoutMs: number;
  /** The login request's `User-Agent`, if any. */
  userAgent: string | null;
  /** The login request's client address, if known. */
  ip: string | null;
  /** The OAuth client the session's tokens were issued to; null for sessions from before the registry. */
  clientId: string | null;
  /**
   * The scopes granted (space-separated), when the client asked for some (authorization code,
   * device grant): the session's requests hold only these of the user's permissions. Null: every
   * permission the user holds (the password grant).
   */
  scope: string | null;
  /**
   * Epoch ms of the sign-in the session stands on: the user's own for a sign-in page's session
   * (OpenID Connect `auth_time`, which a single sign-on session carries over), else `createdAt`.
   * What "a recent sign-in" (RFC 9470 `max_age`) is measured from.
   */
  authenticatedAt: number;
}

/**
 * What a session must do before anything else (Keycloak's required actions; the routes each allows
 * are in src/auth/required-actions.ts): `CONFIGURE_TOTP` enrol a second factor (a staff account
 * without one), `UPDATE_PASSWORD` replace a temporary password.
 */
export type RequiredAction = "CONFIGURE_TOTP" | "UPDATE_PASSWORD";

/** What the gateway needs to authorise a request, kept current by the user admin endpoints. */
export interface Principal {
  role: UserRole;
  status: UserStatus;
  permissions: Permission[];
  /** Pending required actions; absent or empty: none (principals stored before they existed). */
  requiredActions?: RequiredAction[];
}

/**
 * What starting a session takes. The lifetimes come from the configuration
 * (`SESSION_MAX_AGE_SECONDS`, default 60 days; `SESSION_IDLE_TIMEOUT_SECONDS`, default 14 days),
 * converted to ms.
 */
export interface CreateSession {
  /** Absolute lifetime in ms, from creation. */
  absoluteTtlMs: number;
  /** Idle timeout in ms, from each use. */
  idleTimeoutMs: number;
  userAgent?: string | null;
  ip?: string | null;
  principal: Principal;
  /** The OAuth client the session's tokens are issued to (its refresh token works for it alone). */
  clientId?: string | null;
  /** The scopes granted, space-separated; absent or null for all the user holds (see `Session.scope`). */
  scope?: string | null;
  /** How the user signed in, for the ID tokens of its refreshes (OpenID Connect Core §12.2); absent: none. */
  authentication?: SignInRecord | null;
  /** Starts a single sign-on session for the browser the user signed in with, in the same call. */
  sso?: SsoStart | null;
}

/** The sign-in a session or a single sign-on session stands on (OpenID Connect Core §2). */
export interface SignInRecord {
  /** `auth_time`: epoch seconds. */
  authTime: number;
  /** RFC 8176 method values (`pwd`, `otp`, `mfa`). */
  amr: string[];
}

/**
 * A browser's single sign-on session at the authorization endpoint (OpenID Connect's End-User
 * session at the OP), started by a sign-in on a sign-in page: later authorizations from that
 * browser are answered without the form while it lives. Lifetimes in ms, as a session's (a staff
 * account's shorter ones included).
 */
export interface SsoStart {
  absoluteTtlMs: number;
  idleTimeoutMs: number;
  /** The single sign-on session the browser held before (the same user signing in again): ended now. */
  replaces?: string | null | undefined;
}

/** A single sign-on session handed out: its id, its secret (the cookie's), its absolute end (epoch ms). */
export interface SsoIssued {
  id: string;
  secret: string;
  expiresAt: number;
}

/** A live single sign-on session, as a sign-in page uses it: its id and the sign-in it stands on. */
export interface SsoSignIn extends SignInRecord {
  id: string;
}

/** A session just started, its first refresh secret, and the single sign-on session started with it, if asked. */
export interface StartedSession {
  session: Session;
  secret: string;
  sso: SsoIssued | null;
}

/** The user's request to count in the same call as the session check: its policy's name and windows. */
export interface RateCount {
  /** The policy's name ("api", "auth", …): one sliding-window log per policy in this object. */
  key: string;
  policy: RatePolicy;
}

/** A live session with the user's principal and, when one was asked for, the rate-limit decision. */
export interface Authorization {
  session: Session;
  principal: Principal;
  /** Null when no count was asked for. */
  decision: RateDecision | null;
  /** The user's live sessions, most recently used first (this one marked used), when asked for. */
  sessions?: Session[];
  /** Usage of the user's API keys by key id, when asked for. */
  keyUsage?: Record<string, KeyUsage>;
}

/**
 * The live copy of an unrevoked API key, as its owner's SESSIONS object keeps it (the durable
 * record is the `api_keys` row in Postgres). Times are epoch ms.
 */
export interface KeyRecord {
  /** The `api_keys` row's id. */
  id: string;
  /** SHA-256 of the whole key, 64 lowercase hex characters (`hashSecret`). */
  hash: string;
  /** As granted at creation; the request's rights are these ∩ the owner's current principal. */
  scopes: string[];
  /** The one project the key reaches; null for a personal key. */
  projectId: string | null;
  /** Epoch ms; refused from then on. */
  expiresAt: number;
}

/** When and from where a key was last used (epoch ms, client address); nulls before its first use. */
export interface KeyUsage {
  lastUsedAt: number | null;
  lastUsedIp: string | null;
}

/** A key that authenticated, with its owner's principal and, when one was asked for, the rate-limit decision. */
export interface KeyAuthorization {
  key: KeyRecord;
  principal: Principal;
  /** Null when no count was asked for. Counted per key, apart from the owner's sessions and other keys. */
  decision: RateDecision | null;
  /** Usage of the owner's keys by id, when asked for (a route that lists keys needs no second call). */
  keyUsage?: Record<string, KeyUsage>;
}

/**
 * What presenting a refresh secret to `Sessions.rotate` gives: the next secret (`rotated`), the
 * session ended because a retired secret came back (`reused`), or nothing (`invalid`: unknown or
 * expired session, wrong secret, account not active).
 */
export type Rotation =
  | {
      outcome: "rotated";
      secret: string;
      session: Session;
      principal: Principal;
      /** The sign-in the session stands on (sign-in pages' sessions), for a refreshed ID token; else null. */
      authentication: SignInRecord | null;
    }
  /** A rotated-away token came back: the session is revoked (it may have been stolen). */
  | { outcome: "reused" }
  | { outcome: "invalid" };

type SessionRow = {
  id: string;
  created_at: number;
  last_used_at: number;
  expires_at: number;
  idle_timeout_ms: number;
  user_agent: string | null;
  ip: string | null;
  refresh_hash: string;
  previous_hash: string | null;
  successor: string | null;
  grace_until: number | null;
  client_id: string | null;
  scope: string | null;
  /** Epoch s; null for a password grant's session. */
  auth_time: number | null;
  /** Space-separated RFC 8176 values; null with `auth_time`. */
  amr: string | null;
  /** The single sign-on session the session was issued under (authorization code flow), if any. */
  sso_id: string | null;
};

type SsoRow = {
  id: string;
  hash: string;
  created_at: number;
  last_used_at: number;
  expires_at: number;
  idle_timeout_ms: number;
  auth_time: number;
  amr: string;
};

type KeyRow = {
  id: string;
  hash: string;
  scopes: string;
  project_id: string | null;
  expires_at: number;
  last_used_at: number | null;
  last_used_ip: string | null;
};

const toKeyRecord = (row: KeyRow): KeyRecord => ({
  id: row.id,
  hash: row.hash,
  scopes: JSON.parse(row.scopes) as string[],
  projectId: row.project_id,
  expiresAt: row.expires_at,
});

const toSession = (row: SessionRow): Session => ({
  id: row.id,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at,
  expiresAt: row.expires_at,
  idleTimeoutMs: row.idle_timeout_ms,
  userAgent: row.user_agent,
  ip: row.ip,
  clientId: row.client_id,
  scope: row.scope,
  authenticatedAt: row.auth_time === null ? row.created_at : row.auth_time * 1000,
});

/** The stored `amr` (space-separated) as its values. */
const amrOf = (amr: string | null) => (amr ?? "").split(" ").filter(Boolean);

const signInOf = (row: { auth_time: number | null; amr: string | null }): SignInRecord | null =>
  row.auth_time === null ? null : { authTime: row.auth_time, amr: amrOf(row.amr) };

/**
 * How long (ms) a redeemed or expired authorization code is remembered after its expiry, so that
 * a replay is recognised and revokes what the code issued (RFC 6749 §4.1.2).
 */
const REDEEMED_CODES_KEPT_MS = 10 * 60_000;

/** How long (ms) a key a revocation named is kept out: its creation's `addKey` comes within seconds. */
const REVOKED_KEYS_KEPT_MS = 24 * 60 * 60_000;

/**
 * A change of credentials as the user's object applies it (`applyRevocation`), as the SESSIONS
 * outbox holds it (src/db/queries/sessions-outbox.ts): `notBefore` epoch ms, null when no session
 * ends; `keepSessionId` the session that made the change; `keyIds` the API keys it revoked.
 */
export interface Revocation {
  notBefore: number | null;
  keepSessionId: string | null;
  keyIds: readonly string[];
}

/** What an authorization code is bound to and carries to the token it is exchanged for (RFC 6749 §4.1.2). */
export interface CodeGrant {
  clientId: string;
  redirectUri: string;
  /** RFC 7636 S256 challenge: base64url(SHA-256(verifier)), 43 characters. */
  codeChallenge: string;
  /** Granted scopes, space-separated. */
  scope: string;
  /** OpenID Connect `nonce`, returned in the ID token. */
  nonce: string | null;
  /** When the user authenticated, epoch seconds (the ID token's `auth_time`). */
  authTime: number;
  /** How (RFC 8176 values: `pwd`, `otp`, `mfa`). */
  amr: string[];
}

/**
 * What redeeming a code gives: a new session bound to the code's client and scope (`issued`); a
 * code presented again after it started a session, which is then ended (`replayed`); or nothing
 * (`invalid`: unknown, expired, another client or redirect URI, a wrong verifier; the code is spent
 * all the same, and presenting it again is `invalid` too: nothing was issued to revoke).
 */
export type Redemption =
  | { outcome: "issued"; session: Session; secret: string; principal: Principal; grant: CodeGrant }
  | { outcome: "replayed" }
  | { outcome: "invalid" };

type CodeRow = {
  id: string;
  hash: string;
  client_id: string;
  redirect_uri: string;
  code_challenge: string;
  scope: string;
  nonce: string | null;
  auth_time: number;
  amr: string;
  expires_at: number;
  redeemed_at: number | null;
  session_id: string | null;
  sso_id: string | null;
};

/** RFC 7636 §4.6 S256: base64url, without padding, of the SHA-256 of the verifier's ASCII bytes. */
export async function s256(verifier: string): Promise<string> {
  return base64url.encode(await sha256(verifier));
}

/** A fresh refresh secret: 32 random bytes as base64url without padding (43 characters, RFC 4648 §5). */
export function newSecret(): string {
  return base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
}

/**
 * How a refresh secret is stored: SHA-256 of its UTF-8 bytes as 64 lowercase hex characters. A
 * fast hash suffices: the secret is 256 random bits, not a password.
 */
export async function hashSecret(secret: string): Promise<string> {
  return sha256Hex(secret);
}

/**
 * The sessions of one user (one object per user: `idFromName(userId)`, never one global object):
 * idle and absolute lifetimes, refresh-token rotation with reuse detection, and the user's current
 * role, status and permissions; and the user's rate-limit windows, so that the gateway checks the
 * session and counts the request in one call (`authorize`). Every read-modify-write below runs
 * without an `await` between the read and the write, so concurrent calls cannot interleave inside
 * it: no race forks or loses a session, and of concurrent requests no more than a window's limit
 * are admitted. An alarm purges expired sessions and counted requests.
 */
export class Sessions extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly rateLog: SlidingWindowLog;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.rateLog = new SlidingWindowLog(this.sql);
    this.sql.exec(`create table if not exists sessions (
      id text primary key,
      created_at integer not null,
      last_used_at integer not null,
      expires_at integer not null,
      idle_timeout_ms integer not null,
      user_agent text,
      ip text,
      refresh_hash text not null,
      previous_hash text,
      successor text,
      grace_until integer
    )`);
    this.sql.exec(
      "create table if not exists retired (session_id text not null, hash text not null, at integer not null)",
    );
    this.sql.exec("create index if not exists retired_hash on retired (hash)");
    this.sql.exec("create table if not exists principal (id integer primary key check (id = 1), json text not null)");
    this.sql.exec("create table if not exists consumed (jti text primary key, expires_at integer not null)");
    // Added with the OAuth client registry (client_id, scope), then with single sign-on and
    // refreshed ID tokens (auth_time, amr, sso_id): objects created before lack them (null).
    this.addColumns("sessions", {
      client_id: "text",
      scope: "text",
      auth_time: "integer",
      amr: "text",
      sso_id: "text",
    });
    this.sql.exec(`create table if not exists authorization_codes (
      id text primary key,
      hash text not null,
      client_id text not null,
      redirect_uri text not null,
      code_challenge text not null,
      scope text not null,
      nonce text,
      auth_time integer not null,
      amr text not null,
      expires_at integer not null,
      redeemed_at integer,
      session_id text
    )`);
    this.addColumns("authorization_codes", { sso_id: "text" });
    this.sql.exec(`create table if not exists sso_sessions (
      id text primary key,
      hash text not null,
      created_at integer not null,
      last_used_at integer not null,
      expires_at integer not null,
      idle_timeout_ms integer not null,
      auth_time integer not null,
      amr text not null
    )`);
    this.sql.exec(`create table if not exists api_keys (
      id text primary key,
      hash text not null unique,
      scopes text not null,
      project_id text,
      expires_at integer not null,
      last_used_at integer,
      last_used_ip text
    )`);
    // Keys revoked by a change of credentials, kept a day: a copy added late (its creation raced the
    // revocation) is refused.
    this.sql.exec("create table if not exists revoked_keys (id text primary key, at integer not null)");
  }

  /**
   * Starts a session; returns it with its first refresh secret (`newSecret`) and, when `input.sso`
   * and `input.authentication` are given, the single sign-on session started with it.
   */
  async create(input: CreateSession, now = Date.now()): Promise<StartedSession> {
    // Without a one-time token to spend, `start` always starts one.
    return (await this.start(input, null, now)) as StartedSession;
  }

  /**
   * Starts a session only if the one-time token `once` (an MFA login's `mfa_token`) was not spent
   * before, and spends it: a session the first time its `jti` is presented, null after, until
   * `expiresAt` (epoch ms), when the token is refused by its `exp` anyway and the record is
   * dropped. No `await` between the check and the writes, so of concurrent presentations exactly
   * one starts a session (RFC 7519 §4.1.7: `jti` can prevent replay).
   */
  async createOnce(
    input: CreateSession,
    once: { jti: string; expiresAt: number },
    now = Date.now(),
  ): Promise<StartedSession | null> {
    return this.start(input, once, now);
  }

  /** `create`, or `createOnce` with `once`: with `input.sso` (and its sign-in), a single sign-on session too. */
  private async start(
    input: CreateSession,
    once: { jti: string; expiresAt: number } | null,
    now: number,
  ): Promise<StartedSession | null> {
    const { row, secret } = await this.newSession(input, now);
    const sso = input.sso && input.authentication ? await this.newSso(input.sso, input.authentication, now) : null;
    // From here on: no await until the state is written.
    if (once && !this.spend(once, now)) return null;
    this.insertSession(row, input.principal);
    if (sso) this.insertSso(sso.row, input.sso?.replaces);
    await this.scheduleCleanup(now);
    return { session: toSession(row), secret, sso: sso?.issued ?? null };
  }

  /**
   * Exchanges a refresh secret for the next one. The current secret rotates; the one just
   * replaced still yields the same successor for a short grace; any older one is a reuse and ends
   * the session.
   */
  async rotate(
    sessionId: string,
    secret: string,
    now = Date.now(),
    client?: { id: string; legacyId: string },
  ): Promise<Rotation> {
    const presented = await hashSecret(secret);
    const next = newSecret();
    const nextHash = await hashSecret(next);
    // From here on: no await until the state is written.
    const row = this.live(now).find((r) => r.id === sessionId);
    const principal = this.readPrincipal();
    if (!row || !principal || principal.status !== "active") return { outcome: "invalid" };
    // A refresh token works for the client it was issued to alone (RFC 6749 §6, §10.4); sessions
    // from before the registry belong to our first-party client.
    if (client && (row.client_id ?? client.legacyId) !== client.id) return { outcome: "invalid" };

    if (constantTimeEqualText(presented, row.refresh_hash)) {
      this.sql.exec("insert into retired (session_id, hash, at) values (?, ?, ?)", row.id, presented, now);
      this.sql.exec(
        "delete from retired where session_id = ? and rowid not in (select rowid from retired where session_id = ? order by at desc limit ?)",
        row.id,
        row.id,
        RETIRED_KEPT,
      );
      this.sql.exec(
        "update sessions set refresh_hash = ?, previous_hash = ?, successor = ?, grace_until = ?, last_used_at = ? where id = ?",
        nextHash,
        presented,
        next,
        now + REFRESH_REUSE_GRACE_MS,
        now,
        row.id,
      );
      return {
        outcome: "rotated",
        secret: next,
        session: toSession({ ...row, last_used_at: now }),
        principal,
        authentication: signInOf(row),
      };
    }
    if (
      row.previous_hash !== null &&
      constantTimeEqualText(presented, row.previous_hash) &&
      row.successor &&
      row.grace_until !== null &&
      now <= row.grace_until
    ) {
      this.sql.exec("update sessions set last_used_at = ? where id = ?", now, row.id);
      return {
        outcome: "rotated",
        secret: row.successor,
        session: toSession({ ...row, last_used_at: now }),
        principal,
        authentication: signInOf(row),
      };
    }
    const retired = this.sql
      .exec("select 1 from retired where session_id = ? and hash = ?", row.id, presented)
      .toArray();
    if (retired.length > 0) {
      this.deleteSession(row.id);
      return { outcome: "reused" };
    }
    return { outcome: "invalid" };
  }

  /** The live session, marked as used now, with the user's principal; null when gone. */
  async touch(sessionId: string, now = Date.now()): Promise<{ session: Session; principal: Principal } | null> {
    const authorization = await this.authorize(sessionId, null, {}, now);
    return authorization && { session: authorization.session, principal: authorization.principal };
  }

  /**
   * The gateway's one call for a signed-in request: the live session, marked as used now, with
   * the user's principal, and the request counted against `count`'s windows (exactly as the
   * RateLimiter counts: `SlidingWindowLog`). Null when the session is gone, and then nothing is
   * counted here (the request is not this user's: the gateway counts it by client address).
   * With `list`, the answer carries the user's live sessions too (a route that shows them needs
   * no second call).
   */
  async authorize(
    sessionId: string,
    count: RateCount | null,
    options: { list?: boolean; keys?: boolean } = {},
    now = Date.now(),
  ): Promise<Authorization | null> {
    const row = this.live(now).find((r) => r.id === sessionId);
    const principal = this.readPrincipal();
    if (!row || !principal || principal.status !== "active") return null;
    this.sql.exec("update sessions set last_used_at = ? where id = ?", now, sessionId);
    const decision = count ? this.rateLog.hit(count.key, count.policy, now) : null;
    const sessions = options.list ? this.sortedSessions(now) : undefined;
    const keyUsage = options.keys ? this.readKeyUsage() : undefined;
    await this.scheduleCleanup(now);
    return {
      session: toSession({ ...row, last_used_at: now }),
      principal: scopedPrincipal(principal, row.scope),
      decision,
      ...(sessions && { sessions }),
      ...(keyUsage && { keyUsage }),
    };
  }

  /**
   * The gateway's one call for a request made with an API key of this user: the key whose hash is
   * `hash`, unexpired and unrevoked, of an active owner, marked as used now from `ip`, with the
   * owner's current principal, and the request counted against `count`'s windows for this key
   * alone (two keys of one user are counted apart, and apart from the user's sessions). Null when
   * the key is unknown, revoked or expired, or the owner is not active; then nothing is counted
   * here. No `await` between the read and the writes.
   */
  async authorizeKey(
    hash: string,
    count: RateCount | null,
    use: { ip: string | null },
    options: { keys?: boolean } = {},
    now = Date.now(),
  ): Promise<KeyAuthorization | null> {
    const [row] = this.sql.exec<KeyRow>("select * from api_keys where hash = ?", hash).toArray();
    const principal = this.readPrincipal();
    if (!row || row.expires_at <= now || !principal || principal.status !== "active") return null;
    this.sql.exec("update api_keys set last_used_at = ?, last_used_ip = ? where id = ?", now, use.ip, row.id);
    const decision = count ? this.rateLog.hit(`${count.key}:key:${row.id}`, count.policy, now) : null;
    const keyUsage = options.keys ? this.readKeyUsage() : undefined;
    await this.scheduleCleanup(now);
    return { key: toKeyRecord(row), principal, decision, ...(keyUsage && { keyUsage }) };
  }

  /**
   * Keeps a new key (its Postgres record written first). Its creator signed in, so this object
   * holds their principal already; without one the key is refused (`authorizeKey`). A key a
   * revocation named (`applyRevocation`) is not kept: its record was revoked after it was written.
   */
  async addKey(key: KeyRecord): Promise<void> {
    this.sql.exec(
      `insert into api_keys (id, hash, scopes, project_id, expires_at)
       select ?, ?, ?, ?, ? where not exists (select 1 from revoked_keys where id = ?)
       on conflict (id) do nothing`,
      key.id,
      key.hash,
      JSON.stringify(key.scopes),
      key.projectId,
      key.expiresAt,
      key.id,
    );
  }

  /**
   * The live key whose hash is `hash` (unexpired, of an active owner) with the owner's principal,
   * without recording a use (token introspection, RFC 7662); null otherwise.
   */
  async inspectKey(hash: string, now = Date.now()): Promise<{ key: KeyRecord; principal: Principal } | null> {
    const [row] = this.sql.exec<KeyRow>("select * from api_keys where hash = ?", hash).toArray();
    const principal = this.readPrincipal();
    if (!row || row.expires_at <= now || !principal || principal.status !== "active") return null;
    return { key: toKeyRecord(row), principal };
  }

  /** The id of the key whose hash is `hash`, live or expired; null when it is not here (unknown or revoked). */
  async keyIdOf(hash: string): Promise<string | null> {
    const [row] = this.sql.exec<KeyRow>("select * from api_keys where hash = ?", hash).toArray();
    return row ? row.id : null;
  }

  /** Forgets a key: it is refused from the next request. Returns its last use; null when it was not here. */
  async removeKey(id: string): Promise<KeyUsage | null> {
    const [row] = this.sql.exec<KeyRow>("delete from api_keys where id = ? returning *", id).toArray();
    return row ? { lastUsedAt: row.last_used_at, lastUsedIp: row.last_used_ip } : null;
  }

  /** When and from where each of the user's keys was last used, by key id. */
  async keyUsage(): Promise<Record<string, KeyUsage>> {
    return this.readKeyUsage();
  }

  /** How many of the user's requests `count`'s windows hold now, without counting one. */
  async peekRate(count: RateCount, now = Date.now()): Promise<WindowState[]> {
    return this.rateLog.peek(count.key, count.policy, now);
  }

  /** Live sessions, most recently used first. */
  async list(now = Date.now()): Promise<Session[]> {
    return this.sortedSessions(now);
  }

  /** Ends one session; false when it did not exist (or had already ended). */
  async revoke(id: string): Promise<boolean> {
    return this.deleteSession(id);
  }

  /** Ends every session of the user; returns how many there were. */
  async revokeAll(): Promise<number> {
    this.sql.exec("delete from retired");
    this.endSingleSignOn();
    return this.sql.exec("delete from sessions").rowsWritten;
  }

  /**
   * Applies a change of credentials (src/db/queries/sessions-outbox.ts queues it with the change):
   * with `notBefore` (epoch ms), every session issued before it ends but `keepSessionId`, every
   * single sign-on session started before it, and every unredeemed authorization code whose sign-in
   * was before it (a later exchange would start a session the change meant to end); the keys
   * `keyIds` go and are kept out (`addKey`); with `principal`, it is stored first. Applying it twice
   * changes nothing more: the request applies it after its commit, the API worker's cron again.
   * @returns how many sessions and keys went
   */
  async applyRevocation(
    revocation: Revocation,
    principal?: Principal,
    now = Date.now(),
  ): Promise<{ sessions: number; keys: number }> {
    if (principal) this.writePrincipal(principal);
    let sessions = 0;
    const { notBefore } = revocation;
    if (notBefore !== null) {
      const keep = revocation.keepSessionId ?? "";
      const ended = "select id from sessions where created_at < ? and id <> ?";
      this.sql.exec(`delete from retired where session_id in (${ended})`, notBefore, keep);
      sessions = this.sql.exec("delete from sessions where created_at < ? and id <> ?", notBefore, keep).rowsWritten;
      this.endSingleSignOn(notBefore);
      // auth_time is in seconds: a sign-in in the same second as the change counts as before it.
      this.sql.exec(
        "update authorization_codes set redeemed_at = ? where redeemed_at is null and auth_time * 1000 < ?",
        now,
        notBefore + 1000,
      );
    }
    let keys = 0;
    for (const id of revocation.keyIds) {
      keys += this.sql.exec("delete from api_keys where id = ?", id).rowsWritten;
      this.sql.exec("insert into revoked_keys (id, at) values (?, ?) on conflict (id) do nothing", id, now);
    }
    await this.scheduleCleanup(now);
    return { sessions, keys };
  }

  /**
   * Issues an authorization code for a user who has just signed in on the authorization endpoint
   * (stores the principal, as a login does), and starts the browser's single sign-on session
   * (`sso`, with the grant's `authTime` and `amr`) that the code's session is tied to: the code's
   * id and secret and the single sign-on session, or null when `options.once` (an MFA login's
   * `mfa_token`) was spent before (spent here). `ttlMs` is the code's lifetime (about 60 s; RFC
   * 6749 §4.1.2 asks for a short one).
   */
  async issueCode(
    grant: CodeGrant,
    principal: Principal,
    ttlMs: number,
    options: { once?: { jti: string; expiresAt: number } | undefined; sso: SsoStart },
    now = Date.now(),
  ): Promise<{ id: string; secret: string; sso: SsoIssued } | null> {
    const code = await this.newCode();
    const sso = await this.newSso(options.sso, grant, now);
    // From here on: no await until the state is written.
    if (options.once && !this.spend(options.once, now)) return null;
    this.insertSso(sso.row, options.sso.replaces);
    this.insertCode(code, grant, sso.row.id, now + ttlMs);
    this.writePrincipal(principal);
    await this.scheduleCleanup(now);
    return { id: code.id, secret: code.secret, sso: sso.issued };
  }

  /**
   * Issues an authorization code under a browser's single sign-on session, without a sign-in
   * (OpenID Connect Core §3.1.2.3: the End-User is authenticated already): the session `ssoId`
   * must be live, its `secret` right, the user active, and its sign-in no older than
   * `request.maxAgeSeconds` when given. The code carries that sign-in's `auth_time` and `amr`,
   * and the scopes asked that the user holds now (`grantScope`, with the stored principal). One
   * call, no database.
   * @returns the code's id and secret; null when the single sign-on session cannot be used (the
   *   user must sign in)
   */
  async issueCodeBySso(
    ssoId: string,
    secret: string,
    request: Omit<CodeGrant, "scope" | "authTime" | "amr"> & { scope: string[]; maxAgeSeconds: number | null },
    ttlMs: number,
    now = Date.now(),
  ): Promise<{ id: string; secret: string } | null> {
    const presented = await hashSecret(secret);
    const code = await this.newCode();
    // From here on: no await until the state is written.
    const sso = this.useSso(ssoId, presented, request.maxAgeSeconds, now);
    const principal = this.readPrincipal();
    if (!sso || !principal) return null;
    const { maxAgeSeconds: _maxAge, ...bound } = request;
    const grant: CodeGrant = {
      ...bound,
      scope: grantScope(request.scope, principal),
      authTime: sso.auth_time,
      amr: amrOf(sso.amr),
    };
    this.insertCode(code, grant, sso.id, now + ttlMs);
    await this.scheduleCleanup(now);
    return { id: code.id, secret: code.secret };
  }

  /**
   * The sign-in of a browser's live single sign-on session (the device verification page signs
   * the user in with it), marked as used; null as `issueCodeBySso` would refuse it.
   */
  async useSsoSession(ssoId: string, secret: string, now = Date.now()): Promise<SsoSignIn | null> {
    const presented = await hashSecret(secret);
    // From here on: no await until the state is written.
    const sso = this.useSso(ssoId, presented, null, now);
    if (!sso) return null;
    await this.scheduleCleanup(now);
    return { id: sso.id, authTime: sso.auth_time, amr: amrOf(sso.amr) };
  }

  /**
   * Exchanges an authorization code for a session (RFC 6749 §4.1.3): the code's secret, client,
   * redirect URI and PKCE verifier (RFC 7636 §4.6) must all match, within its lifetime, once. A
   * second presentation ends the session the first one started (RFC 6749 §4.1.2). The session is
   * started in the same call, so the exchange is one crossing to this object.
   */
  async redeemCode(
    codeId: string,
    presented: { secret: string; clientId: string; redirectUri: string; codeVerifier: string },
    input: Omit<CreateSession, "principal" | "clientId" | "scope"> & {
      /** A staff account's shorter lifetimes (ms), applied when the stored principal is staff's. */
      staff?: { absoluteTtlMs: number; idleTimeoutMs: number };
    },
    now = Date.now(),
  ): Promise<Redemption> {
    const hash = await hashSecret(presented.secret);
    const challenge = await s256(presented.codeVerifier);
    const started = await this.newSession(
      { ...input, principal: { role: "user", status: "active", permissions: [] } },
      now,
    );
    // From here on: no await until the state is written.
    this.purgeExpired(now);
    const [code] = this.sql.exec<CodeRow>("select * from authorization_codes where id = ?", codeId).toArray();
    if (!code || !constantTimeEqualText(hash, code.hash)) return { outcome: "invalid" };
    if (code.redeemed_at !== null) {
      // Spent by a failed exchange (a wrong verifier, client or redirect URI): nothing was issued,
      // so there is nothing to revoke and no replay to report.
      if (!code.session_id) return { outcome: "invalid" };
      this.deleteSession(code.session_id);
      return { outcome: "replayed" };
    }
    const principal = this.readPrincipal();
    const valid =
      now < code.expires_at &&
      code.client_id === presented.clientId &&
      code.redirect_uri === presented.redirectUri &&
      constantTimeEqualText(challenge, code.code_challenge) &&
      principal?.status === "active";
    if (!valid || !principal) {
      this.sql.exec("update authorization_codes set redeemed_at = ? where id = ?", now, code.id);
      return { outcome: "invalid" };
    }
    const staff = input.staff && (principal.role === "admin" || principal.permissions.length > 0) ? input.staff : null;
    const row: SessionRow = {
      ...started.row,
      client_id: code.client_id,
      scope: code.scope,
      auth_time: code.auth_time,
      amr: code.amr,
      sso_id: code.sso_id,
      ...(staff && {
        expires_at: Math.min(started.row.expires_at, now + staff.absoluteTtlMs),
        idle_timeout_ms: Math.min(started.row.idle_timeout_ms, staff.idleTimeoutMs),
      }),
    };
    this.insertSession(row, principal);
    this.sql.exec("update authorization_codes set redeemed_at = ?, session_id = ? where id = ?", now, row.id, code.id);
    await this.scheduleCleanup(now);
    const grant: CodeGrant = {
      clientId: code.client_id,
      redirectUri: code.redirect_uri,
      codeChallenge: code.code_challenge,
      scope: code.scope,
      nonce: code.nonce,
      authTime: code.auth_time,
      amr: amrOf(code.amr),
    };
    return { outcome: "issued", session: toSession(row), secret: started.secret, principal, grant };
  }

  /**
   * Whether a session is alive, for token introspection (RFC 7662), without marking it used: the
   * session and the principal its requests act as, or null. With `secret`, only if it is the
   * session's current refresh secret.
   */
  async inspect(
    sessionId: string,
    secret?: string,
    now = Date.now(),
  ): Promise<{ session: Session; principal: Principal } | null> {
    const presented = secret === undefined ? undefined : await hashSecret(secret);
    // From here on: no await.
    const row = this.live(now).find((r) => r.id === sessionId);
    const principal = this.readPrincipal();
    if (!row || !principal || principal.status !== "active") return null;
    if (presented !== undefined && !constantTimeEqualText(presented, row.refresh_hash)) return null;
    return { session: toSession(row), principal: scopedPrincipal(principal, row.scope) };
  }

  /**
   * Token revocation by refresh token (RFC 7009 §2.1): ends the session whose current refresh
   * secret `secret` is, if it was issued to `client` (sessions from before the registry belong to
   * `client.legacyId`, our first-party client); false otherwise, changing nothing.
   */
  async revokeByRefresh(
    sessionId: string,
    secret: string,
    client: { id: string; legacyId: string },
    now = Date.now(),
  ): Promise<boolean> {
    const presented = await hashSecret(secret);
    // From here on: no await.
    const row = this.live(now).find((r) => r.id === sessionId);
    if (!row || !constantTimeEqualText(presented, row.refresh_hash)) return false;
    if ((row.client_id ?? client.legacyId) !== client.id) return false;
    return this.deleteSession(row.id);
  }

  /**
   * Keeps the user's role, status, permissions and required actions current; disabling ends every
   * session. With `limits` (ms; a user who became staff), every live session, single sign-on ones
   * too, is shortened to them: its absolute end to at most `createdAt + absoluteTtlMs`, its idle
   * timeout to at most `idleTimeoutMs`.
   */
  async setPrincipal(principal: Principal, limits?: { absoluteTtlMs: number; idleTimeoutMs: number }): Promise<void> {
    this.writePrincipal(principal);
    if (principal.status !== "active") {
      await this.revokeAll();
      return;
    }
    if (limits) {
      for (const table of ["sessions", "sso_sessions"]) {
        this.sql.exec(
          `update ${table} set expires_at = min(expires_at, created_at + ?), idle_timeout_ms = min(idle_timeout_ms, ?)`,
          limits.absoluteTtlMs,
          limits.idleTimeoutMs,
        );
      }
      await this.scheduleCleanup(Date.now());
    }
  }

  /** The stored role, status and permissions; null before the user's first session. */
  async getPrincipal(): Promise<Principal | null> {
    return this.readPrincipal();
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    this.purgeExpired(now);
    this.rateLog.purge(now);
    await this.scheduleCleanup(now);
  }

  /** Adds to `table` each of `columns` (name → SQLite type) it lacks: objects created before them. */
  private addColumns(table: string, columns: Record<string, string>): void {
    const existing = new Set(
      this.sql
        .exec<{ name: string }>(`pragma table_info(${table})`)
        .toArray()
        .map((c) => c.name),
    );
    for (const [name, type] of Object.entries(columns)) {
      if (!existing.has(name)) this.sql.exec(`alter table ${table} add column ${name} ${type}`);
    }
  }

  private readKeyUsage(): Record<string, KeyUsage> {
    const rows = this.sql
      .exec<Pick<KeyRow, "id" | "last_used_at" | "last_used_ip">>("select id, last_used_at, last_used_ip from api_keys")
      .toArray();
    return Object.fromEntries(rows.map((r) => [r.id, { lastUsedAt: r.last_used_at, lastUsedIp: r.last_used_ip }]));
  }

  private async newCode(): Promise<{ id: string; secret: string; hash: string }> {
    const secret = newSecret();
    return { id: crypto.randomUUID(), secret, hash: await hashSecret(secret) };
  }

  private insertCode(code: { id: string; hash: string }, grant: CodeGrant, ssoId: string, expiresAt: number): void {
    this.sql.exec(
      `insert into authorization_codes (id, hash, client_id, redirect_uri, code_challenge, scope, nonce, auth_time, amr, expires_at, sso_id)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      code.id,
      code.hash,
      grant.clientId,
      grant.redirectUri,
      grant.codeChallenge,
      grant.scope,
      grant.nonce,
      grant.authTime,
      grant.amr.join(" "),
      expiresAt,
      ssoId,
    );
  }

  private spend(once: { jti: string; expiresAt: number }, now: number): boolean {
    this.sql.exec("delete from consumed where expires_at <= ?", now);
    const inserted = this.sql.exec(
      "insert into consumed (jti, expires_at) values (?, ?) on conflict do nothing",
      once.jti,
      once.expiresAt,
    );
    return inserted.rowsWritten > 0;
  }

  private async newSession(input: CreateSession, now: number): Promise<{ row: SessionRow; secret: string }> {
    const secret = newSecret();
    const row: SessionRow = {
      id: crypto.randomUUID(),
      created_at: now,
      last_used_at: now,
      expires_at: now + input.absoluteTtlMs,
      idle_timeout_ms: input.idleTimeoutMs,
      user_agent: input.userAgent ?? null,
      ip: input.ip ?? null,
      refresh_hash: await hashSecret(secret),
      previous_hash: null,
      successor: null,
      grace_until: null,
      client_id: input.clientId ?? null,
      scope: input.scope ?? null,
      auth_time: input.authentication?.authTime ?? null,
      amr: input.authentication ? input.authentication.amr.join(" ") : null,
      sso_id: null,
    };
    return { row, secret };
  }

  private insertSession(row: SessionRow, principal: Principal): void {
    this.sql.exec(
      `insert into sessions (id, created_at, last_used_at, expires_at, idle_timeout_ms, user_agent, ip, refresh_hash, client_id, scope, auth_time, amr, sso_id)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      row.id,
      row.created_at,
      row.last_used_at,
      row.expires_at,
      row.idle_timeout_ms,
      row.user_agent,
      row.ip,
      row.refresh_hash,
      row.client_id,
      row.scope,
      row.auth_time,
      row.amr,
      row.sso_id,
    );
    this.writePrincipal(principal);
  }

  /** A single sign-on session to insert (`insertSso`), with its secret, from its lifetimes and sign-in. */
  private async newSso(
    start: SsoStart,
    signIn: SignInRecord,
    now: number,
  ): Promise<{ row: SsoRow; issued: SsoIssued }> {
    const secret = newSecret();
    const row: SsoRow = {
      id: crypto.randomUUID(),
      hash: await hashSecret(secret),
      created_at: now,
      last_used_at: now,
      expires_at: now + start.absoluteTtlMs,
      idle_timeout_ms: start.idleTimeoutMs,
      auth_time: signIn.authTime,
      amr: signIn.amr.join(" "),
    };
    return { row, issued: { id: row.id, secret, expiresAt: row.expires_at } };
  }

  /**
   * Ends the single sign-on sessions started before `startedBefore` (epoch ms; all by default):
   * whatever ends the user's sessions on a change of credentials ends these too.
   */
  private endSingleSignOn(startedBefore = Number.MAX_SAFE_INTEGER): void {
    this.sql.exec("delete from sso_sessions where created_at < ?", startedBefore);
  }

  /** Stores a single sign-on session, ending the one it `replaces` (the browser's previous one). */
  private insertSso(row: SsoRow, replaces: string | null | undefined): void {
    if (replaces) this.sql.exec("delete from sso_sessions where id = ?", replaces);
    this.sql.exec(
      `insert into sso_sessions (id, hash, created_at, last_used_at, expires_at, idle_timeout_ms, auth_time, amr)
       values (?, ?, ?, ?, ?, ?, ?, ?)`,
      row.id,
      row.hash,
      row.created_at,
      row.last_used_at,
      row.expires_at,
      row.idle_timeout_ms,
      row.auth_time,
      row.amr,
    );
  }

  /**
   * The live single sign-on session `id` whose secret hashes to `hash`, marked as used now; null
   * when it is unknown, expired, idle too long, the secret is wrong, the user is not active, or
   * its sign-in is older than `maxAgeSeconds` (OpenID Connect Core §3.1.2.1 `max_age`). No await.
   */
  private useSso(id: string, hash: string, maxAgeSeconds: number | null, now: number): SsoRow | null {
    this.purgeExpired(now);
    const [row] = this.sql.exec<SsoRow>("select * from sso_sessions where id = ?", id).toArray();
    if (!row || !constantTimeEqualText(hash, row.hash) || this.readPrincipal()?.status !== "active") return null;
    if (maxAgeSeconds !== null && Math.floor(now / 1000) - row.auth_time > maxAgeSeconds) return null;
    this.sql.exec("update sso_sessions set last_used_at = ? where id = ?", now, id);
    return row;
  }

  private sortedSessions(now: number): Session[] {
    return this.live(now)
      .sort((a, b) => b.last_used_at - a.last_used_at)
      .map(toSession);
  }

  /**
   * Ends a session, and the single sign-on session it was issued under (a logout, a revocation, a
   * reused refresh token or replayed code): that browser signs in again at its next authorization.
   */
  private deleteSession(id: string): boolean {
    this.sql.exec("delete from retired where session_id = ?", id);
    const [ended] = this.sql
      .exec<Pick<SessionRow, "sso_id">>("delete from sessions where id = ? returning sso_id", id)
      .toArray();
    if (ended?.sso_id) this.sql.exec("delete from sso_sessions where id = ?", ended.sso_id);
    return ended !== undefined;
  }

  private live(now: number): SessionRow[] {
    this.purgeExpired(now);
    return this.sql.exec<SessionRow>("select * from sessions").toArray();
  }

  private purgeExpired(now: number): void {
    const expired = "expires_at <= ? or last_used_at + idle_timeout_ms <= ?";
    this.sql.exec(`delete from retired where session_id in (select id from sessions where ${expired})`, now, now);
    this.sql.exec(`delete from sessions where ${expired}`, now, now);
    this.sql.exec(`delete from sso_sessions where ${expired}`, now, now);
    // A rotated-away token's successor is kept in clear only for its grace.
    this.sql.exec("update sessions set successor = null where grace_until < ?", now);
    this.sql.exec("delete from authorization_codes where expires_at + ? <= ?", REDEEMED_CODES_KEPT_MS, now);
    this.sql.exec("delete from revoked_keys where at + ? <= ?", REVOKED_KEYS_KEPT_MS, now);
  }

  private readPrincipal(): Principal | null {
    const [row] = this.sql.exec<{ json: string }>("select json from principal where id = 1").toArray();
    return row ? (JSON.parse(row.json) as Principal) : null;
  }

  private writePrincipal(principal: Principal): void {
    this.sql.exec(
      "insert into principal (id, json) values (1, ?) on conflict (id) do update set json = excluded.json",
      JSON.stringify(principal),
    );
  }

  /**
   * The alarm fires at the earliest moment a session can expire; with no session left, when the
   * last counted request stops mattering (while sessions live, each count purges the log).
   */
  private async scheduleCleanup(now: number): Promise<void> {
    const [next] = this.sql
      .exec<{ at: number | null }>(
        `select min(at) as at from (
           select min(expires_at, last_used_at + idle_timeout_ms) as at from sessions
           union all select min(expires_at, last_used_at + idle_timeout_ms) from sso_sessions)`,
      )
      .toArray();
    const [code] = this.sql
      .exec<{ at: number | null }>("select min(expires_at) + ? as at from authorization_codes", REDEEMED_CODES_KEPT_MS)
      .toArray();
    const candidates = [next?.at ?? this.rateLog.lastExpiry(), code?.at ?? null].filter((t) => t != null);
    const at = candidates.length ? Math.min(...candidates) : null;
    if (at == null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(Math.max(at, now + 1));
  }
}
