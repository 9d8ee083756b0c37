import { z } from "@hono/zod-openapi";
import { INT4_MAX, isPostgresInstant, jsonProblem, textProblem } from "../pkg/validation/postgres.ts";

/**
 * Zod building blocks for every request value that reaches Postgres, so that a value Postgres
 * cannot hold is a 400 naming the field rather than a data exception (SQLSTATE class 22) and a 500.
 * Route schemas start from these instead of `z.string()`, `z.coerce.number()` or `z.iso.datetime()`.
 */

/** A check for any string schema (`z.url().check(storableText)`): Postgres `text` can hold the value. */
export const storableText: z.core.CheckFn<string> = (ctx) => {
  const message = textProblem(ctx.value);
  if (message) ctx.issues.push({ code: "custom", message, input: ctx.value });
};

/**
 * A string Postgres `text` can hold: no U+0000 and no unpaired surrogate (see `textProblem`).
 * Chain `.trim()`, `.min()`, `.max()`, `.regex()` on it as on `z.string()`.
 */
export const text = () => z.string().check(storableText);

/**
 * A whole number in `integer` (int4) range, at least `min`, from a JSON number or a query or path
 * string (`2147483648` is a 400 here, not SQLSTATE 22003 in Postgres).
 */
export const int4 = (min = 1) => z.coerce.number().int().min(min).max(INT4_MAX);

/**
 * An RFC 3339 date-time with a zone (`Z` or an offset) whose instant Postgres can read as a
 * `timestamptz` parameter: UTC years 1 to 9999 (see `isPostgresInstant`).
 */
export const instant = () =>
  z.iso
    .datetime({ offset: true })
    .refine((value) => isPostgresInstant(new Date(value)), "outside the dates this service stores (years 1 to 9999)");

/**
 * A check for a JSON object stored as `jsonb`: every string and key is text Postgres can hold. The
 * issue points at the first string that is not (a key's problem, at its object).
 */
export const storableJson: z.core.CheckFn<Record<string, unknown>> = (ctx) => {
  const found = jsonProblem(ctx.value);
  if (found) ctx.issues.push({ code: "custom", message: found.message, path: found.path, input: ctx.value });
};
