import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import { asCaller } from "../../app/database.ts";
import { recordSecurityEvent } from "../../db/queries/audit.ts";
import type { AuditAction } from "../../db/schema/audit.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { requestOrigin } from "../request-origin.ts";

/**
 * Records that the caller ended sessions of their own (`user.logged_out`, `session.revoked`,
 * `user.sessions_revoked`), after the response, once the SESSIONS object has ended them. The change
 * lives in that Durable Object, which no Postgres transaction can span, so there is no transaction
 * for the event to join; after the response it costs the request no round trip (one insert, as the
 * caller, afterwards), and an unreachable database cannot turn a logout that happened into a 503
 * (the lost event is logged as a warning instead).
 */
export function recordSessionEvent(c: Context<AppEnv>, action: AuditAction, details: Record<string, unknown>): void {
  const { userId } = callerOf(c);
  const db = asCaller(c);
  const origin = requestOrigin(c);
  c.get("services").background(`recording ${action}`, () =>
    db.write((q) => [recordSecurityEvent(q, { action, actorId: userId, targetUserId: userId, origin, details })]),
  );
}
