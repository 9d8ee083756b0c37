import { and, desc, eq, gte, inArray, is, lt, SQL, sql } from "drizzle-orm";
import type { Queryable } from "../actor.ts";
import { AUDIT_DETAILS_MAX_BYTES, type AuditAction, type AuditOutcome, auditEvents } from "../schema/audit.ts";

/**
 * Where a security event came from: the request's client address (as the gateway keys it), user
 * agent and request id. Routes build it with `requestOrigin(c)` (src/routes/request-origin.ts).
 */
export interface RequestOrigin {
  ip: string | null;
  userAgent: string | null;
  /** Ours, generated for the request (src/gateway/request-id.ts): the event's `request_id`. */
  requestId: string | null;
  /** The client's own `X-Request-ID`, if it sent one: recorded in `details.clientRequestId`. */
  clientRequestId?: string | null | undefined;
}

/**
 * One security event to record. `action` is `<object>.<past-tense verb>` in snake case
 * (`user.login_succeeded`, `user.login_failed`, `mfa.enabled`, `user.role_changed`…), one of
 * `AUDIT_ACTIONS` (src/db/schema/audit.ts), which the README's table ("Audit log") mirrors.
 */
export interface SecurityEvent {
  action: AuditAction;
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
 * `details` checked against AUDIT_DETAILS_MAX_BYTES (4 KiB of JSON).
 * @throws RangeError when larger (a programming error: the database would refuse it with a check
 *   violation anyway)
 */
function checkedDetails(details: Record<string, unknown>): Record<string, unknown> {
  const size = new TextEncoder().encode(JSON.stringify(details)).byteLength;
  if (size > AUDIT_DETAILS_MAX_BYTES) {
    throw new RangeError(`security event details of ${size} bytes exceed ${AUDIT_DETAILS_MAX_BYTES}`);
  }
  return details;
}

/** The origin's columns, clipped to their lengths (an address 64, a user agent 512, a request id 128 characters). */
const originColumns = (origin: RequestOrigin) => ({
  ip: clip(origin.ip, 64),
  userAgent: clip(origin.userAgent, 512),
  requestId: clip(origin.requestId, 128),
});

/** `details` with the client's request id, when it sent one (never in place of ours). */
const withClientRequestId = (details: Record<string, unknown>, origin: RequestOrigin) =>
  origin.clientRequestId ? { ...details, clientRequestId: origin.clientRequestId } : details;

/**
 * The unexecuted insert of one security event: await it inside an `asActor` transaction, or return
 * it into a `batchAsActor` batch, so that the event commits with the change it describes and costs
 * no round trip of its own. Row-level security lets a user record only events they are the actor
 * of; staff and the system record any (migration 0030).
 * @throws RangeError when `details` is larger than AUDIT_DETAILS_MAX_BYTES
 */
export function recordSecurityEvent(db: Queryable, event: SecurityEvent) {
  return db.insert(auditEvents).values({
    action: event.action,
    outcome: event.outcome ?? "success",
    actorId: event.actorId,
    targetUserId: event.targetUserId,
    ...originColumns(event.origin),
    details: checkedDetails(withClientRequestId(event.details ?? {}, event.origin)),
  });
}

/**
 * A security event inside a larger SQL statement (an `insert … select` in a CTE that records the
 * event only for the rows the change touched): its target and details may be SQL over those rows.
 */
export interface SecurityEventSql extends Omit<SecurityEvent, "targetUserId" | "details"> {
  /** A user id, or SQL giving one (a column of the statement's rows). */
  targetUserId: string | null | SQL;
  /** Checked as `SecurityEvent.details` is; or SQL giving a jsonb (then unchecked here: the table's check holds). */
  details?: Record<string, unknown> | SQL;
}

/** The columns `securityEventValues` gives values for, in its order: `insert into audit_events (${SECURITY_EVENT_COLUMNS}) select …`. */
export const SECURITY_EVENT_COLUMNS = sql.raw(
  "action, outcome, actor_id, target_user_id, ip, user_agent, request_id, details",
);

/**
 * One security event's values as a SQL select list, in the order of SECURITY_EVENT_COLUMNS, with
 * the same clipping and details check as `recordSecurityEvent`: for statements that record an
 * event conditionally, in the same statement as their change.
 * @throws RangeError when object `details` are larger than AUDIT_DETAILS_MAX_BYTES
 */
export function securityEventValues(event: SecurityEventSql): SQL {
  const origin = originColumns(event.origin);
  const target = is(event.targetUserId, SQL) ? event.targetUserId : sql`${event.targetUserId}::uuid`;
  const details = is(event.details, SQL)
    ? sql`(${event.details}) || ${JSON.stringify(withClientRequestId({}, event.origin))}::jsonb`
    : sql`${JSON.stringify(checkedDetails(withClientRequestId(event.details ?? {}, event.origin)))}::jsonb`;
  return sql`${event.action}, ${event.outcome ?? "success"}, ${event.actorId}::uuid, ${target}, ${origin.ip}, ${origin.userAgent}, ${origin.requestId}, ${details}`;
}

/**
 * Which security events a page holds: every condition given must hold (`actions` any of them). Times
 * are `occurredAt`: `since` inclusive, `until` exclusive. `afterId` is the keyset position (the
 * last id of the previous page; ids only grow, so newest first is by id).
 */
export interface SecurityEventFilter {
  actions?: readonly AuditAction[] | undefined;
  actorId?: string | undefined;
  targetUserId?: string | undefined;
  outcome?: AuditOutcome | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  requestId?: string | undefined;
  afterId?: number | undefined;
  /** Rows of the page; one more is fetched to tell whether another page follows. */
  limit: number;
}

/**
 * A page of security events, newest first (`limit + 1` rows: see `pageOf`). Row-level security
 * decides what the actor sees (staff everything, a user the events about their own account), so a
 * user's own list passes their id as `targetUserId` too. Both modes.
 */
export function selectSecurityEventsPage(db: Queryable, filter: SecurityEventFilter) {
  return db
    .select()
    .from(auditEvents)
    .where(
      and(
        filter.actions ? inArray(auditEvents.action, [...filter.actions]) : undefined,
        filter.actorId ? eq(auditEvents.actorId, filter.actorId) : undefined,
        filter.targetUserId ? eq(auditEvents.targetUserId, filter.targetUserId) : undefined,
        filter.outcome ? eq(auditEvents.outcome, filter.outcome) : undefined,
        filter.since ? gte(auditEvents.occurredAt, filter.since) : undefined,
        filter.until ? lt(auditEvents.occurredAt, filter.until) : undefined,
        filter.requestId ? eq(auditEvents.requestId, filter.requestId) : undefined,
        filter.afterId === undefined ? undefined : lt(auditEvents.id, filter.afterId),
      ),
    )
    .orderBy(desc(auditEvents.id))
    .limit(filter.limit + 1);
}

/**
 * An event as the user it concerns sees it (their own list and their data export): the address and
 * user agent are withheld when someone else acted (an administrator's whereabouts are theirs),
 * shown when no one was signed in (a refused login, a reused refresh token: the attempt against
 * the account is what its owner needs to see) or when they acted themselves.
 */
export function asSeenByTarget<E extends { actorId: string | null; ip: string | null; userAgent: string | null }>(
  event: E,
  userId: string,
): E {
  if (event.actorId === null || event.actorId === userId) return event;
  return { ...event, ip: null, userAgent: null };
}
