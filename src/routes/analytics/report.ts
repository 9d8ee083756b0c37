import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import { asSystem } from "../../app/database.ts";
import type { HttpQueryBuilder, HttpStatements } from "../../db/client.ts";
import type { Range } from "../../db/queries/analytics.ts";
import { invalidField } from "../../pkg/errors/api-error.ts";
import { isPostgresInstant } from "../../pkg/validation/postgres.ts";
import { instant } from "../fields.ts";
import { PageQuery } from "../pagination.ts";

const DAY_MS = 86_400_000;
const DEFAULT_RANGE_DAYS = 7;
const MAX_RANGE_DAYS = 366;

/** The range of a report: `from` (inclusive) and `to` (exclusive), ISO 8601 instants. */
export const RangeQuery = z.object({
  from: instant()
    .optional()
    .openapi({
      param: { name: "from", in: "query" },
      description: `Inclusive; default 7 days before \`to\`. Must be before \`to\`, at most ${MAX_RANGE_DAYS} days before it (400 otherwise).`,
    }),
  to: instant()
    .optional()
    .openapi({ param: { name: "to", in: "query" }, description: "Exclusive; default now." }),
});

/** A report's range and how many rows it lists (`limit`, as in every paginated list). */
export const ListQuery = RangeQuery.extend({ limit: PageQuery.shape.limit });

/** The range a report covers, as answered (ISO 8601 instants, `to` exclusive). */
export const RangeSchema = z.object({ from: z.iso.datetime(), to: z.iso.datetime() });

/**
 * The half-open range `[from, to)` of a report's query: `to` defaults to now, `from` to
 * 7 days before `to`. Throws a 400 `validation_failed` naming the field when `from` is not before
 * `to`, when the range spans more than 366 days, or when the default `from` falls before the year 1
 * (Postgres holds no earlier instant).
 */
export function rangeOf(query: { from?: string | undefined; to?: string | undefined }): Range {
  const to = query.to ? new Date(query.to) : new Date();
  const from = query.from ? new Date(query.from) : new Date(to.getTime() - DEFAULT_RANGE_DAYS * DAY_MS);
  // The default `from`, 7 days before `to`, must be an instant Postgres reads too.
  if (!isPostgresInstant(from))
    throw invalidField("query", "/to", "give `from`: 7 days before `to` is before the year 1");
  if (from >= to) throw invalidField("query", "/from", "must be before `to`");
  if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * DAY_MS)
    throw invalidField("query", "/from", `the range is at most ${MAX_RANGE_DAYS} days`);
  return { from, to };
}

/** `range` as answered in `RangeSchema`. */
export const rangeJson = (range: Range) => ({ from: range.from.toISOString(), to: range.to.toISOString() });

/**
 * A report's statements as one read-only HTTP batch (one round trip), as the system: the route
 * checked `analytics:read`, and a report reads every user's rows, which row-level security shows
 * no user. Read on the replica when there is one (they may be a little stale). Throws what `asSystem(c).readStale` throws (503 when Postgres is unreachable or too slow).
 */
export const readReport = <T extends HttpStatements>(c: Context<AppEnv>, build: (db: HttpQueryBuilder) => T) =>
  asSystem(c).readStale(build);
