import type { Principal, Revocation, Session, Sessions } from "../durable-objects/sessions.ts";
import { DependencyError } from "../pkg/errors/api-error.ts";

/** The SESSIONS Durable Object namespace: one object per user, named by the user's id. */
export type SessionsNamespace = DurableObjectNamespace<Sessions>;

/**
 * Runs `work` against the user's SESSIONS object (named by `userId`).
 *
 * @returns what `work` resolves to
 * @throws DependencyError("sessions") when the object cannot be reached or its call fails (a 503,
 *   never a 500); errors `work` throws after the call are wrapped alike
 */
export async function withUserSessions<T>(
  namespace: SessionsNamespace,
  userId: string,
  work: (sessions: DurableObjectStub<Sessions>) => Promise<T>,
): Promise<T> {
  const stub = namespace.get(namespace.idFromName(userId));
  try {
    return await work(stub);
  } catch (error) {
    throw new DependencyError("sessions", error);
  }
}

/**
 * Splits an opaque token that names a record in its user's SESSIONS object,
 * `<userId>.<id>.<secret>` (UUIDs, then 32 random bytes as base64url: `newSecret`): a refresh
 * token, an authorization code, a single sign-on cookie. Undefined for anything else.
 */
export function parseUserToken(token: string): { userId: string; id: string; secret: string } | undefined {
  const match = /^([0-9a-f-]{36})\.([0-9a-f-]{36})\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!match?.[1] || !match[2] || !match[3]) return undefined;
  return { userId: match[1], id: match[2], secret: match[3] };
}

/** The opaque token `parseUserToken` splits. */
export const userToken = (userId: string, id: string, secret: string) => `${userId}.${id}.${secret}`;

/**
 * The user's live sessions, most recently used first (times in epoch ms, `Session`).
 * @throws DependencyError("sessions") when the SESSIONS object is unreachable
 */
export function listSessions(namespace: SessionsNamespace, userId: string): Promise<Session[]> {
  return withUserSessions(namespace, userId, (sessions) => sessions.list());
}

/**
 * Ends one of the user's sessions: its refresh token and its access tokens are refused from now
 * on. Only the user's own object is asked, so another user's session id is simply not found.
 *
 * @returns false when the user has no live session `sessionId`
 * @throws DependencyError("sessions") when the SESSIONS object is unreachable
 */
export function revokeSession(
  namespace: SessionsNamespace,
  input: { userId: string; sessionId: string },
): Promise<boolean> {
  return withUserSessions(namespace, input.userId, (sessions) => sessions.revoke(input.sessionId));
}

/**
 * Ends every session of the user.
 * @returns how many were live
 * @throws DependencyError("sessions") when the SESSIONS object is unreachable
 */
export function revokeAllSessions(namespace: SessionsNamespace, userId: string): Promise<number> {
  return withUserSessions(namespace, userId, (sessions) => sessions.revokeAll());
}

/**
 * Applies a change of credentials queued in the SESSIONS outbox to the user's object (see
 * `Sessions.applyRevocation`: the sessions issued before it end, the keys it revoked go), storing
 * `principal` first when given. The outbox row stays for the cron, which applies it again.
 * @returns how many sessions and keys went
 * @throws DependencyError("sessions") when the SESSIONS object is unreachable (the cron applies it
 *   within minutes: src/auth/sessions-outbox.ts)
 */
export function applyRevocation(
  namespace: SessionsNamespace,
  work: Revocation & { userId: string },
  principal?: Principal,
): Promise<{ sessions: number; keys: number }> {
  const { notBefore, keepSessionId, keyIds } = work;
  return withUserSessions(namespace, work.userId, (sessions) =>
    sessions.applyRevocation({ notBefore, keepSessionId, keyIds }, principal),
  );
}
