import type { Queryable } from "../actor.ts";
import { AUDIT_DETAILS_MAX_BYTES, type AuditOutcome, auditEvents } from "../schema/audit.ts";

/**
 * Where a security event came from: the request's client address (as the gateway keys it), user
 * agent and request id. Routes build it with `requestOrigin(c)` (src/routes/request-origin.ts).
 */
export interface RequestOrigin {
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
}

/**
 * One security event to record. `action` is `<object>.<past-tense verb>` in snake case
 * (`user.login_succeeded`, `user.login_failed`, `mfa.enabled`, `api_key.revoked`,
 * `user.role_changed`…): the list of what the platform records is in the README ("Audit log").
 */
export interface SecurityEvent {
  action: string;
  /** Default `success`; a refused attempt (a wrong password) is a `failure`. */
  outcome?: AuditOutcome;
  /** The user who acted; null for the server itself or an anonymous caller. */
  actorId: string | null;
  /** Whose account it concerns; null when none is known (a login with an unknown username). */
  targetUserId: string | null;
  origin: RequestOrigin;
  /** Never a secret (no password, token, code). Its JSON must fit AUDIT_DETAILS_MAX_BYTES (4 KiB). */
  details?: Record<string, unknown>;
}

const clip = (value: string | null, length: number) => (value === null ? null : value.slice(0, length));

/**
 * The unexecuted insert of one security event: await it inside an `asActor` transaction, or return
 * it into a `batchAsActor` batch, so that the event commits with the change it describes and costs
 * no round trip of its own. Row-level security lets a user record only events they are the actor
 * of; staff and the system record any (migration 0030).
 * @throws RangeError when `details` is larger than AUDIT_DETAILS_MAX_BYTES (a programming error:
 *   the database would refuse it with a check violation anyway).
 */
export function recordSecurityEvent(db: Queryable, event: SecurityEvent) {
  const details = event.details ?? {};
  const size = new TextEncoder().encode(JSON.stringify(details)).byteLength;
  if (size > AUDIT_DETAILS_MAX_BYTES) {
    throw new RangeError(`security event details of ${size} bytes exceed ${AUDIT_DETAILS_MAX_BYTES}`);
  }
  return db.insert(auditEvents).values({
    action: event.action,
    outcome: event.outcome ?? "success",
    actorId: event.actorId,
    targetUserId: event.targetUserId,
    ip: clip(event.origin.ip, 64),
    userAgent: clip(event.origin.userAgent, 512),
    requestId: clip(event.origin.requestId, 128),
    details,
  });
}
