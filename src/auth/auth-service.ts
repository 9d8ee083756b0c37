import { asActor, batchAsActor, firstRow, READ_ONLY, SYSTEM } from "../db/actor.ts";
import { NoRowsAffectedError } from "../db/affected.ts";
import type { Database, HttpDatabase } from "../db/client.ts";
import { type RequestOrigin, recordSecurityEvent, type SecurityEvent } from "../db/queries/audit.ts";
import {
  findIdentity,
  findUserByEmail,
  getMfa,
  getUser,
  insertUser,
  linkIdentity,
  type PublicUser,
  permissionsOf,
  recordUserChanges,
  selectMfa,
  selectPermissions,
  selectUser,
  selectUserForLogin,
  type UserChanges,
} from "../db/queries/users.ts";
import type { LoginThrottle } from "../durable-objects/login-throttle.ts";
import type { Principal, Rotation, Session, Sessions } from "../durable-objects/sessions.ts";
import type { ApiConfig } from "../pkg/config/config.ts";
import { toHex } from "../pkg/crypto/digest.ts";
import { ApiError, oauthError } from "../pkg/errors/api-error.ts";
import { useSecondFactor } from "./mfa.ts";
import type { ExternalIdentity } from "./oidc.ts";
import { createPasswordHasher, type PasswordHasher, UNUSABLE_PASSWORD_HASH } from "./password-hasher.ts";
import { isStaffAccount, requiredActionsOf, type SessionLifetimes, sessionLifetimesOf } from "./required-actions.ts";
import { hasScope, scopedPrincipal, tokenScope } from "./scopes.ts";
import { buckets, lockoutLog, type Refusal, throttledAttempt, throttledCheck } from "./throttle.ts";
import { tokenManager } from "./tokens.ts";
import { parseUserToken, type SessionsNamespace, userToken, withUserSessions } from "./user-sessions.ts";

/** RFC 6749 §5.1 successful token response. */
export interface TokenResponse {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  refresh_token: string;
  scope: string;
  /** OpenID Connect Core §3.1.3.3: when the grant's scope has `openid`. */
  id_token?: string;
}

export interface AuthDeps {
  config: ApiConfig;
  /** The WebSocket mode, for transactions that read before they write (MFA codes, OIDC linking). */
  db: Database;
  /** The HTTP mode: the login's lookups and its recording, one round trip each. */
  http: HttpDatabase;
  sessions: SessionsNamespace;
  throttle: DurableObjectNamespace<LoginThrottle>;
  /** Where the request came from: the client's address (as the rate limiter keys it), user agent, request id. */
  client: RequestOrigin & { ip: string };
  /** Work after the response (the request's `services.background`): a failure is logged, never thrown. */
  background(name: string, task: () => Promise<unknown>): void;
}

/** How a login proved who it is, as its security event says (`details`). */
export type LoginMethod = { method: "password" | "mfa" } | { method: "oidc"; provider: string };

/** What a login's `user.login_succeeded` event says: how, and on an OAuth sign-in page, for which grant and client. */
export type LoginDetails = LoginMethod & { grant?: string; clientId?: string };

/**
 * How a user proved who they are on a sign-in page (the authorization endpoint's, the device
 * verification page's): RFC 8176 `amr` values, and what the proof leaves to record or spend.
 */
export interface Authentication {
  /**
   * `pwd`, then `otp` and `mfa` (a TOTP code) or `mfa` (a recovery code); `fed` for a login an
   * OpenID provider vouched for (`provider`).
   */
  amr: string[];
  /** The OpenID provider (`OIDC_PROVIDERS` id) of a `fed` login. */
  provider?: string | undefined;
  /** When the user proved it (OpenID Connect `auth_time`), epoch seconds. */
  authTime: number;
  /** An MFA login's `mfa_token` (`jti`, expiry in epoch ms), spent by what the login starts. */
  once?: { jti: string; expiresAt: number } | undefined;
  /** To record with the login (a rehashed password). */
  changes?: UserChanges | undefined;
}

/**
 * The event details of a sign-in page's login: its method (`oidc` with the provider, else from
 * `amr`), the grant and client it was for.
 */
export function signInPageLogin(
  authentication: Pick<Authentication, "amr" | "provider">,
  grant: string,
  clientId: string,
): LoginDetails {
  if (authentication.provider) return { method: "oidc", provider: authentication.provider, grant, clientId };
  return { method: authentication.amr.includes("mfa") ? "mfa" : "password", grant, clientId };
}

/**
 * Records a security event that changes nothing in Postgres in its own one-statement batch, after
 * the response: a refused login, or a refresh token's reuse (its session ended in the SESSIONS
 * object, which no Postgres transaction can include). With no change to share a transaction with,
 * the issue's "in the same transaction as the change" has nothing to apply to; after the response,
 * the answer neither waits for the insert (a refusal costs no round trip) nor depends on it: an
 * unknown user and a wrong password keep the same timing, and an unreachable database does not
 * turn a 400 into a 503 (the lost event is logged as a warning instead).
 */
function recordAfterResponse(
  deps: Pick<AuthDeps, "http" | "client" | "background">,
  event: Omit<SecurityEvent, "origin">,
) {
  deps.background(`recording ${event.action}`, () =>
    batchAsActor(deps.http, SYSTEM, (db) => [recordSecurityEvent(db, { ...event, origin: deps.client })]),
  );
}

/** Records a refused login (after the response) and returns the error that refuses it. */
function refusedLogin<E>(
  deps: Pick<AuthDeps, "http" | "client" | "background">,
  refusal: { targetUserId: string | null; login: LoginMethod; reason: string },
  error: E,
): E {
  recordAfterResponse(deps, {
    action: "user.login_failed",
    outcome: "failure",
    actorId: null,
    targetUserId: refusal.targetUserId,
    details: { ...refusal.login, reason: refusal.reason },
  });
  return error;
}

const INVALID_CREDENTIALS = "Invalid username or password.";

const hashers = new Map<number, PasswordHasher>();

/** One hasher per iteration count (its dummy salt for unknown users is made once). */
export function passwordHasher(iterations: number): PasswordHasher {
  let hasher = hashers.get(iterations);
  if (!hasher) {
    hasher = createPasswordHasher({ iterations });
    hashers.set(iterations, hasher);
  }
  return hasher;
}

/** The token endpoint's answer to a throttled attempt (RFC 6749 §5.2 `slow_down`, with Retry-After). */
const slowDown: Refusal = (seconds) =>
  oauthError("rate_limited", "slow_down", `Too many failed attempts; wait ${seconds} s.`, {
    headers: { "Retry-After": String(seconds) },
  });

/**
 * The user's current role, status, permissions and required actions (src/auth/required-actions.ts),
 * as the gateway will see them, from the user's row, their grants and their MFA enrolment.
 */
export function principalOf(
  user: Pick<PublicUser, "role" | "status" | "passwordChangeRequired">,
  granted: readonly { permission: string }[],
  mfa: { enabledAt: Date | null } | undefined,
): Principal {
  const permissions = user.role === "admin" ? [] : permissionsOf(granted);
  const requiredActions = requiredActionsOf({
    role: user.role,
    permissions,
    mfaEnabled: Boolean(mfa?.enabledAt),
    passwordChangeRequired: user.passwordChangeRequired,
  });
  return { role: user.role, status: user.status, permissions, requiredActions };
}

/**
 * Pushes the user's current role, status, permissions and required actions to their sessions (ends
 * them if disabled). The user, their grants and their MFA enrolment are read in one HTTP batch.
 * With `staffLifetimes` (ms), a staff account's live sessions are shortened to them.
 */
export async function syncPrincipal(
  deps: Pick<AuthDeps, "http" | "sessions"> & { staffLifetimes?: SessionLifetimes | undefined },
  userId: string,
): Promise<void> {
  const [users, granted, mfa] = await batchAsActor(
    deps.http,
    SYSTEM,
    (db) => [selectUser(db, { id: userId }), selectPermissions(db, { userId }), selectMfa(db, { userId })],
    READ_ONLY,
  );
  const user = firstRow(users);
  const principal = user ? principalOf(user, granted, firstRow(mfa)) : undefined;
  const limits = principal && isStaffAccount(principal) ? deps.staffLifetimes : undefined;
  await withUserSessions(deps.sessions, userId, (stub) =>
    principal
      ? stub.setPrincipal(principal, limits)
      : stub.setPrincipal({ role: "user", status: "disabled", permissions: [] }),
  );
}

/** The staff session lifetimes of the configuration (ms), as `syncPrincipal` takes them. */
export function staffLifetimes(config: ApiConfig): SessionLifetimes {
  return { absoluteTtlMs: config.auth.staffSessionMaxAgeMs, idleTimeoutMs: config.auth.staffSessionIdleTimeoutMs };
}

/**
 * The login batch every login shares (the password and MFA grants, an OIDC login, the sign-in
 * pages of the authorization endpoint and the device grant): one HTTP batch records the login
 * (`lastLoginAt`, with `login.changes` such as a rehashed password, and `user.login_succeeded`
 * with `login.details`) and reads the user's grants and MFA enrolment; then `start` makes the one
 * call to the user's SESSIONS object with the principal they give (a session, an authorization
 * code), spending an MFA login's `mfa_token` there if it has one. Two round trips in all, the
 * event with no round trip of its own. The batch records the proof before the SESSIONS call; that
 * call failing (503, or an `mfa_token` spent concurrently) leaves the event, as it leaves
 * `lastLoginAt`.
 *
 * @param start the SESSIONS call; it answers null when the `mfa_token` it was to spend was spent before
 * @returns the principal (role, permissions, required actions) and what `start` answered
 * @throws NoRowsAffectedError when the user's row was not there to record the login; an
 *   `invalid_grant` OAuth error when `start` answered null; DependencyError when the SESSIONS
 *   object is unreachable
 */
export async function startLogin<T>(
  deps: AuthDeps,
  userId: string,
  login: { details: LoginDetails; changes?: UserChanges | undefined },
  start: (sessions: DurableObjectStub<Sessions>, principal: Principal) => Promise<T | null>,
): Promise<{ principal: Principal; started: T }> {
  const [recorded, granted, mfa] = await batchAsActor(deps.http, SYSTEM, (db) => [
    recordUserChanges(db, { id: userId, changes: { ...login.changes, lastLoginAt: new Date() } }),
    selectPermissions(db, { userId }),
    selectMfa(db, { userId }),
    recordSecurityEvent(db, {
      action: "user.login_succeeded",
      actorId: userId,
      targetUserId: userId,
      origin: deps.client,
      details: login.details,
    }),
  ]);
  const current = firstRow(recorded);
  if (!current) throw new NoRowsAffectedError("recording the login", 1, 0);
  // With its required actions (a staff account without MFA, a temporary password), as every login's.
  const principal = principalOf(current, granted, firstRow(mfa));
  const started = await withUserSessions(deps.sessions, userId, (stub) => start(stub, principal));
  if (!started) throw oauthError("invalid_grant", "invalid_grant", "The mfa_token was already used; sign in again.");
  return { principal, started };
}

/**
 * Starts a session for a user whose identity is proven (`startLogin`), and issues its first
 * tokens, for our first-party client. With `once` (an MFA login's `mfa_token`), the session
 * starts only if that token was not spent before.
 * @throws what `startLogin` throws
 */
export async function startSession(
  deps: AuthDeps,
  user: PublicUser,
  changes: UserChanges = {},
  once?: { jti: string; expiresAt: number },
  login: LoginMethod = { method: "password" },
): Promise<TokenResponse> {
  const { principal, started } = await startLogin(deps, user.id, { details: login, changes }, (stub, principal) => {
    const input = { ...sessionLifetimes(deps, principal), principal, clientId: deps.config.auth.tokens.clientId };
    return once ? stub.createOnce(input, once) : stub.create(input);
  });
  return tokenResponse(deps, { userId: user.id, session: started.session, secret: started.secret, principal });
}

/**
 * A new session's lifetimes (ms) and the client's user agent and address: a staff account's
 * (`principal` an admin or holding a permission) are the shorter staff ones (`sessionLifetimesOf`);
 * without `principal`, the general ones.
 */
export function sessionLifetimes(deps: Pick<AuthDeps, "config" | "client">, principal?: Principal) {
  return {
    ...sessionLifetimesOf(principal ?? { role: "user", permissions: [] }, deps.config.auth),
    userAgent: deps.client.userAgent,
    ip: deps.client.ip,
  };
}

/** What a token response is made of: the session, its new refresh secret, the user's principal. */
export interface IssuedSession {
  userId: string;
  session: Pick<Session, "id" | "clientId" | "scope">;
  secret: string;
  principal: Principal;
  /**
   * For an ID token (when the session's scope has `openid`): the authentication it records, and
   * the authorization request's `nonce` (null on a refresh: OpenID Connect Core §12.2).
   */
  authentication?: { authTime: number; nonce: string | null; amr: string[] } | undefined;
}

/**
 * The token response of a session (RFC 6749 §5.1): an access token for the session's client with
 * the scope it holds now, the refresh token, and an ID token when `openid` was granted.
 */
export async function tokenResponse(deps: Pick<AuthDeps, "config">, issued: IssuedSession): Promise<TokenResponse> {
  const { userId, session, secret, principal } = issued;
  const scope = tokenScope(principal, session.scope);
  const tokens = await tokenManager(deps.config.auth.tokens);
  const clientId = session.clientId ?? deps.config.auth.tokens.clientId;
  const role = scopedPrincipal(principal, session.scope).role;
  const access = await tokens.issueAccessToken({ sub: userId, sid: session.id, role, scope, clientId });
  const idToken =
    issued.authentication && hasScope(session.scope, "openid")
      ? await tokens.issueIdToken({
          sub: userId,
          clientId,
          sid: session.id,
          accessToken: access.token,
          ...issued.authentication,
        })
      : undefined;
  return {
    access_token: access.token,
    token_type: "Bearer",
    expires_in: access.expiresIn,
    refresh_token: userToken(userId, session.id, secret),
    scope,
    ...(idToken === undefined ? {} : { id_token: idToken }),
  };
}

export type LoginResult = { kind: "tokens"; tokens: TokenResponse } | { kind: "mfa"; mfaToken: string };

/**
 * A password step's outcome: the user proven (with the rehashed password to record with the
 * login, if any), or, for an account with MFA on, the `mfa_token` to complete it with.
 */
export type PasswordCheck = { kind: "user"; user: PublicUser; rehash: UserChanges } | { kind: "mfa"; mfaToken: string };

/**
 * OAuth2 password grant (RFC 6749 §4.3). An unknown user and a wrong password get the same answer
 * after the same work. Each attempt is counted before the password is checked, against the account
 * (whichever identifier named it; an unknown identifier has a bucket of its own that behaves
 * alike) and the client address: concurrent guesses get exactly the free attempts. A refusal is
 * recorded (`user.login_failed`, after the response: `recordAfterResponse`), a success in the
 * session's batch.
 *
 * @throws `invalid_grant` for a wrong password, an unknown or disabled account; `slow_down` (429)
 *   while throttled; `DependencyError` (503) when the throttle or the database is unreachable.
 */
export async function passwordLogin(
  deps: AuthDeps,
  input: { username: string; password: string },
): Promise<LoginResult> {
  const checked = await checkPassword(deps, input);
  if (checked.kind === "mfa") return checked;
  return { kind: "tokens", tokens: await startSession(deps, checked.user, checked.rehash) };
}

/**
 * The password step of a login, without starting a session: `passwordLogin`'s checks, throttle
 * and answers (it throws what `passwordLogin` throws), for the sign-in page of the authorization
 * endpoint too. An account with MFA on gets its `mfa_token` (its rehash, if any, stored now).
 */
export async function checkPassword(
  deps: AuthDeps,
  input: { username: string; password: string },
): Promise<PasswordCheck> {
  const hasher = passwordHasher(deps.config.auth.pbkdf2Iterations);
  // The account and its MFA enrolment: one round trip before the password check.
  const [found] = await batchAsActor(
    deps.http,
    SYSTEM,
    (db) => [selectUserForLogin(db, { login: input.username })],
    READ_ONLY,
  );
  const user = firstRow(found)?.user;
  const mfa = firstRow(found)?.mfa;
  // An identifier naming no account is not kept: it is often a password typed in the wrong field.
  const refused = <E>(reason: string, error: E) =>
    refusedLogin(deps, { targetUserId: user?.id ?? null, login: { method: "password" }, reason }, error);
  const attempt = {
    buckets: [user ? buckets.account(user.id) : buckets.unknownLogin(input.username), buckets.client(deps.client.ip)],
    refuse: (seconds: number) => refused("throttled", slowDown(seconds)),
    lockouts: lockoutLog(deps.http, deps.background),
  };
  let passwordMatched = false;
  const check = await throttledAttempt(deps.throttle, attempt, async () => {
    const result = user
      ? await hasher.verify(input.password, user.passwordHash)
      : await hasher.verifyNothing(input.password);
    passwordMatched = user !== undefined && result.valid;
    return user && result.valid && user.status === "active" ? result : undefined;
  });
  if (!user || !check) {
    const reason = !user ? "unknown_user" : passwordMatched ? "account_disabled" : "invalid_credentials";
    throw refused(reason, oauthError("invalid_grant", "invalid_grant", INVALID_CREDENTIALS));
  }

  const { passwordHash: _hash, ...publicUser } = user;
  const rehash: UserChanges = check.needsRehash ? { passwordHash: await hasher.hash(input.password) } : {};
  if (mfa?.enabledAt) {
    if (check.needsRehash) {
      const [rehashed] = await batchAsActor(deps.http, SYSTEM, (db) => [
        recordUserChanges(db, { id: user.id, changes: rehash }),
      ]);
      if (!firstRow(rehashed)) throw new NoRowsAffectedError("storing the rehashed password", 1, 0);
    }
    const tokens = await tokenManager(deps.config.auth.tokens);
    return { kind: "mfa", mfaToken: await tokens.issueMfaToken(user.id) };
  }
  return { kind: "user", user: publicUser, rehash };
}

/** Completes an MFA login: the `mfa_token` from the password step and a TOTP or recovery code. */
export async function completeMfaLogin(
  deps: AuthDeps,
  input: { mfaToken: string; otp?: string | undefined; recoveryCode?: string | undefined },
): Promise<TokenResponse> {
  const { user, once } = await checkSecondFactor(deps, input);
  // The password step it proves is spent by the login it completes: a second code (the next TOTP
  // step, a recovery code) with the same mfa_token starts no second session. Spent as the session
  // starts, in one call to the user's SESSIONS object.
  return startSession(deps, user, {}, once, { method: "mfa" });
}

/**
 * The second step of an MFA login, without starting a session: the user, and the `mfa_token`'s
 * `jti` and expiry (epoch ms) for whatever the login starts to spend once.
 * @throws `invalid_grant` for an invalid or expired `mfa_token`, a wrong or used code; `slow_down` (429)
 */
export async function checkSecondFactor(
  deps: AuthDeps,
  input: { mfaToken: string; otp?: string | undefined; recoveryCode?: string | undefined },
): Promise<{ user: PublicUser; once: { jti: string; expiresAt: number }; provider: string | undefined }> {
  const tokens = await tokenManager(deps.config.auth.tokens);
  const { userId, jti, exp, provider } = await tokens.verifyMfaToken(input.mfaToken).catch(() => {
    throw oauthError("invalid_grant", "invalid_grant", "The mfa_token is invalid or has expired.");
  });
  const refused = <E>(reason: string, error: E) =>
    refusedLogin(deps, { targetUserId: userId, login: { method: "mfa" }, reason }, error);
  const attempt = {
    buckets: [buckets.secondFactor(userId), buckets.client(deps.client.ip)],
    refuse: (seconds: number) => refused("throttled", slowDown(seconds)),
    lockouts: lockoutLog(deps.http, deps.background),
  };
  let codeMatched = false;
  const user = await throttledAttempt(deps.throttle, attempt, async () => {
    if (!(await useSecondFactor(deps, SYSTEM, userId, input))) return undefined;
    codeMatched = true;
    const found = await asActor(deps.db, SYSTEM, (tx) => getUser(tx, { id: userId }));
    return found?.status === "active" ? found : undefined;
  });
  if (!user) {
    const error = oauthError("invalid_grant", "invalid_grant", "The code is invalid or was already used.");
    throw refused(codeMatched ? "account_disabled" : "invalid_code", error);
  }
  return { user, once: { jti, expiresAt: exp * 1000 }, provider };
}

/** A username from an email's local part, made unique with a random suffix. */
function usernameFor(email: string): string {
  const local = (email.split("@")[0] ?? "user").replace(/[^A-Za-z0-9._-]/g, "").replace(/^[._-]+/, "");
  const suffix = toHex(crypto.getRandomValues(new Uint8Array(3)));
  return `${(local || "user").slice(0, 80)}-${suffix}`;
}

/**
 * Who a third-party provider vouched for. A known identity is its user; else a provider-verified
 * email links to the account with that email, or creates one. Linking needs the email verified on
 * both sides: an unverified email at the provider would hand over someone else's account, and an
 * account whose email we never verified may have been registered by an attacker in the victim's
 * name, keeping a password to it (pre-account takeover). A link or an account created is recorded
 * in its transaction (one statement more), a refusal after the response.
 *
 * @returns the active user, or an `mfa_token` for the second factor when the account has MFA on
 * @throws ApiError `forbidden` (an email the provider has not verified, a disabled account),
 *   `conflict` (an account with this email whose email is not verified)
 */
export async function externalSignIn(
  deps: AuthDeps,
  identity: ExternalIdentity,
): Promise<{ kind: "signed-in"; user: PublicUser } | { kind: "mfa"; mfaToken: string }> {
  const login: LoginMethod = { method: "oidc", provider: identity.provider };
  const refused = <E>(targetUserId: string | null, reason: string, error: E) =>
    refusedLogin(deps, { targetUserId, login, reason }, error);
  const user = await asActor(deps.db, SYSTEM, async (tx) => {
    const linked = await findIdentity(tx, { provider: identity.provider, subject: identity.subject });
    if (linked) return getUser(tx, { id: linked.userId });
    if (!identity.emailVerified) {
      throw refused(
        null,
        "provider_email_not_verified",
        new ApiError("forbidden", {
          detail: "The provider has not verified this email address, so it cannot be linked to an account.",
        }),
      );
    }
    const existing = await findUserByEmail(tx, { email: identity.email });
    if (existing && !existing.emailVerified) {
      throw refused(
        existing.id,
        "email_not_verified",
        new ApiError("conflict", {
          detail:
            "An account with this email exists but its email is not verified, so it is not linked automatically. Sign in with its password, or have the email verified first.",
        }),
      );
    }
    const account =
      existing ??
      (await insertUser(tx, {
        email: identity.email,
        username: usernameFor(identity.email),
        passwordHash: UNUSABLE_PASSWORD_HASH,
        emailVerified: true,
        displayName: identity.name?.slice(0, 100) ?? null,
      }));
    await linkIdentity(tx, {
      provider: identity.provider,
      subject: identity.subject,
      userId: account.id,
      email: identity.email,
    });
    await recordSecurityEvent(tx, {
      action: existing ? "user.identity_linked" : "user.registered",
      actorId: account.id,
      targetUserId: account.id,
      origin: deps.client,
      details: login,
    });
    return account;
  });
  if (user?.status !== "active") {
    throw refused(
      user?.id ?? null,
      "account_disabled",
      new ApiError("forbidden", { detail: "This account is disabled." }),
    );
  }
  const mfa = await asActor(deps.db, SYSTEM, (tx) => getMfa(tx, { userId: user.id }));
  if (mfa?.enabledAt) {
    const tokens = await tokenManager(deps.config.auth.tokens);
    return { kind: "mfa", mfaToken: await tokens.issueMfaToken(user.id, identity.provider) };
  }
  return { kind: "signed-in", user };
}

/**
 * Signs in someone a third-party provider vouched for (`externalSignIn`) and starts their session.
 * @returns the tokens, or an `mfa_token` for the MFA grant when the account has MFA on
 * @throws what `externalSignIn` and `startSession` throw
 */
export async function externalLogin(deps: AuthDeps, identity: ExternalIdentity): Promise<LoginResult> {
  const signedIn = await externalSignIn(deps, identity);
  if (signedIn.kind === "mfa") return signedIn;
  const login: LoginMethod = { method: "oidc", provider: identity.provider };
  return { kind: "tokens", tokens: await startSession(deps, signedIn.user, {}, undefined, login) };
}

/** Splits a refresh token, `<userId>.<sessionId>.<secret>`; undefined for anything else. */
export function parseRefreshToken(token: string): { userId: string; sessionId: string; secret: string } | undefined {
  const parsed = parseUserToken(token);
  return parsed && { userId: parsed.userId, sessionId: parsed.id, secret: parsed.secret };
}

/**
 * Refresh grant with rotation: every use returns a new refresh token. The one just rotated away
 * works once more for a short grace (returning the same new token); any older one is a reuse and
 * revokes the session. The Sessions object does this atomically. A session whose grant has
 * `openid` and that stands on a sign-in page's sign-in gets a new ID token (OpenID Connect Core
 * §12.2: the same `iss`, `sub`, `aud`, the original `auth_time` and `amr`, a new `iat`, no `nonce`).
 */
export async function refreshTokens(
  deps: AuthDeps,
  input: { refreshToken: string; clientId?: string },
): Promise<TokenResponse> {
  const firstParty = deps.config.auth.tokens.clientId;
  const client = { id: input.clientId ?? firstParty, legacyId: firstParty };
  // Counted per client address only: a bucket per account would let anyone who knows a user id
  // lock that user's refreshes.
  const attempt = { bucket: buckets.client(deps.client.ip), refuse: slowDown };
  const parsed = parseRefreshToken(input.refreshToken);
  const refused: { outcome?: Rotation["outcome"] } = {};
  const rotated = await throttledCheck(deps.throttle, attempt, async () => {
    if (!parsed) return undefined;
    const rotation = await withUserSessions(deps.sessions, parsed.userId, async (stub) =>
      stub.rotate(parsed.sessionId, parsed.secret, undefined, client),
    );
    if (rotation.outcome === "rotated") return rotation;
    refused.outcome = rotation.outcome;
    return undefined;
  });
  if (parsed && rotated) {
    const authentication = rotated.authentication ? { ...rotated.authentication, nonce: null } : undefined;
    return tokenResponse(deps, { ...rotated, userId: parsed.userId, authentication });
  }
  if (!parsed) throw oauthError("invalid_grant", "invalid_grant", "The refresh token is invalid.");
  if (refused.outcome === "reused") {
    // The SESSIONS object has ended the session; what it says is recorded after the response.
    recordAfterResponse(deps, {
      action: "session.refresh_token_reused",
      outcome: "failure",
      actorId: null,
      targetUserId: parsed.userId,
      details: { sessionId: parsed.sessionId },
    });
    throw oauthError(
      "invalid_grant",
      "invalid_grant",
      "This refresh token was already used; the session has been ended. Log in again.",
    );
  }
  throw oauthError("invalid_grant", "invalid_grant", "The refresh token is invalid, expired or revoked.");
}
