import { z } from "@hono/zod-openapi";
import type { SecurityEventFilter } from "../../db/queries/audit.ts";
import { AUDIT_ACTION_NAMES, AUDIT_OUTCOMES, type AuditAction, type AuditEvent } from "../../db/schema/audit.ts";
import { invalidField } from "../../pkg/errors/api-error.ts";
import { instant, text, uuid } from "../fields.ts";
import { PageQuery } from "../pagination.ts";

/** At most this many names or prefixes in one `action` filter. */
const MAX_ACTION_TERMS = 20;

const OBJECTS = [...new Set(AUDIT_ACTION_NAMES.map((action) => action.slice(0, action.indexOf("."))))];
const escaped = (value: string) => value.replace(/[.*]/g, (c) => `\\${c}`);
const TERM = [...AUDIT_ACTION_NAMES, ...OBJECTS.map((object) => `${object}.*`)].map(escaped).join("|");
/**
 * An `action` filter: comma-separated, each an action (`user.login_failed`) or every action of an
 * object (`user.*`), at most MAX_ACTION_TERMS. A pattern, so the document says exactly what is
 * accepted and a typo is a 400 rather than an empty page.
 */
const ACTION_FILTER = new RegExp(`^(?:${TERM})(?:,(?:${TERM})){0,${MAX_ACTION_TERMS - 1}}$`);

/** The actions an `action` filter (matching ACTION_FILTER) names, without duplicates. */
function actionsOf(value: string): AuditAction[] {
  const chosen = new Set<AuditAction>();
  for (const term of value.split(",")) {
    const prefix = term.endsWith(".*") ? term.slice(0, -1) : undefined;
    for (const action of AUDIT_ACTION_NAMES) {
      if (prefix ? action.startsWith(prefix) : action === term) chosen.add(action);
    }
  }
  return [...chosen];
}

const actionFilter = z
  .string()
  .regex(ACTION_FILTER, "comma-separated actions of the audit log, or `<object>.*`")
  .transform(actionsOf)
  .optional()
  .openapi({
    param: { name: "action", in: "query" },
    description: `Comma-separated (at most ${MAX_ACTION_TERMS}), each an action or \`<object>.*\` for all of an object's (\`user.*\`): ${AUDIT_ACTION_NAMES.map((a) => `\`${a}\``).join(", ")}.`,
    example: "user.login_failed,mfa.*",
  });

/** What both lists filter by: actions, outcome, time range. */
const commonFilters = {
  action: actionFilter,
  outcome: z
    .enum(AUDIT_OUTCOMES)
    .optional()
    .openapi({ param: { name: "outcome", in: "query" } }),
  since: instant()
    .optional()
    .openapi({ param: { name: "since", in: "query" }, description: "Events at or after this instant (RFC 3339)." }),
  until: instant()
    .optional()
    .openapi({ param: { name: "until", in: "query" }, description: "Events before this instant (RFC 3339)." }),
};

/** `GET /users/me/security-events`: a page, by action, outcome and time. */
export const OwnSecurityEventsQuery = PageQuery.extend(commonFilters);

/** `GET /audit`: a page, by action, outcome, time, actor, target and request id. */
export const AuditQuery = PageQuery.extend({
  ...commonFilters,
  actorId: uuid()
    .optional()
    .openapi({ param: { name: "actorId", in: "query" }, description: "Who acted." }),
  targetUserId: uuid()
    .optional()
    .openapi({ param: { name: "targetUserId", in: "query" }, description: "Whose account it concerns." }),
  requestId: text()
    .min(1)
    .max(128)
    .optional()
    .openapi({ param: { name: "requestId", in: "query" }, description: "The `X-Request-ID` of the request." }),
});

export const SecurityEventSchema = z
  .object({
    id: z.number().int().openapi({ description: "Increasing: newer events have larger ids." }),
    occurredAt: z.iso.datetime(),
    // A string, not an enum: the log outlives the code, and an event recorded under an action since
    // renamed or retired must still be shown.
    action: z.string().openapi({ description: "`<object>.<past-tense verb>`; the README's table lists them." }),
    outcome: z.enum(AUDIT_OUTCOMES),
    actorId: z.uuid().nullable().openapi({ description: "Who acted; null for an anonymous caller or the server." }),
    targetUserId: z.uuid().nullable().openapi({ description: "Whose account it concerns; null when none is known." }),
    ip: z.string().nullable().openapi({ description: "The client address of the request." }),
    userAgent: z.string().nullable(),
    requestId: z.string().nullable().openapi({ description: "The request's `X-Request-ID`." }),
    details: z.record(z.string(), z.unknown()).openapi({ description: "What the action's row in the README names." }),
  })
  .openapi("SecurityEvent");

export const SecurityEventPageSchema = z
  .object({ data: z.array(SecurityEventSchema), nextCursor: z.string().nullable() })
  .openapi("SecurityEventPage");

export function toSecurityEventJson(event: AuditEvent): z.infer<typeof SecurityEventSchema> {
  return {
    id: event.id,
    occurredAt: event.occurredAt.toISOString(),
    action: event.action,
    outcome: event.outcome,
    actorId: event.actorId,
    targetUserId: event.targetUserId,
    ip: event.ip,
    userAgent: event.userAgent,
    requestId: event.requestId,
    details: event.details,
  };
}

/** The opaque cursor of a page whose last event is `id`: `audit:<id>` in base64 without padding. */
export const encodeAuditCursor = (id: number): string => btoa(`audit:${id}`).replace(/=+$/, "");

/** The id a `cursor` parameter names; a 400 naming `query /cursor` when it is not one we issued. */
export function auditCursorParam(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  let decoded = "";
  try {
    decoded = atob(cursor);
  } catch {
    // Not base64: refused below.
  }
  const match = /^audit:([1-9][0-9]{0,15})$/.exec(decoded);
  const id = match?.[1] === undefined ? Number.NaN : Number(match[1]);
  if (!Number.isSafeInteger(id)) throw invalidField("query", "/cursor", "not a cursor this API returned");
  return id;
}

/** The filter of a page query (the route adds what it fixes itself: the caller as target). */
export function filterOf(
  query: z.output<typeof OwnSecurityEventsQuery> & Partial<z.output<typeof AuditQuery>>,
): SecurityEventFilter {
  return {
    actions: query.action,
    outcome: query.outcome,
    since: query.since === undefined ? undefined : new Date(query.since),
    until: query.until === undefined ? undefined : new Date(query.until),
    actorId: query.actorId,
    targetUserId: query.targetUserId,
    requestId: query.requestId,
    afterId: auditCursorParam(query.cursor),
    limit: query.limit,
  };
}

/** One page from the `limit + 1` events fetched, and the cursor of the next (null on the last page). */
export function securityEventPage(
  rows: AuditEvent[],
  limit: number,
): { page: AuditEvent[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { page, nextCursor: rows.length > limit && last ? encodeAuditCursor(last.id) : null };
}
