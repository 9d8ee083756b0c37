import { z } from "@hono/zod-openapi";
import { INT4_MAX, isPostgresInstant, jsonProblem, textProblem } from "../pkg/validation/postgres.ts";

/**
 * Zod building blocks for every request value that reaches Postgres, so that a value Postgres
 * cannot hold is a 400 naming the field rather than a data exception (SQLSTATE class 22) and a 500.
 * Route schemas start from these instead of `z.string()`, `z.coerce.number()` (integerParam) or `z.iso.datetime()`.
 */

/** A check for any string schema (`z.url().check(storableText)`): Postgres `text` can hold the value. */
export const storableText: z.core.CheckFn<string> = (ctx) => {
  const message = textProblem(ctx.value);
  if (message) ctx.issues.push({ code: "custom", message, input: ctx.value });
};

/**
 * What `storableText` checks, as a JSON Schema pattern for the document: no U+0000, and a
 * surrogate only as the first half of a pair (ECMA-262; it means the same with or without the
 * `u` flag, which JSON Schema validators use).
 */
export const STORABLE_TEXT_PATTERN = "^(?:[^\\u0000\\uD800-\\uDFFF]|[\\uD800-\\uDBFF][\\uDC00-\\uDFFF])*$";

/**
 * A string Postgres `text` can hold: no U+0000 and no unpaired surrogate (see `textProblem`).
 * Chain `.trim()`, `.min()`, `.max()` on it as on `z.string()`. The document shows one pattern
 * per string, STORABLE_TEXT_PATTERN: a field with a pattern of its own must state both.
 */
export const text = () => z.string().check(storableText).openapi({ pattern: STORABLE_TEXT_PATTERN });

/** STORABLE_TEXT_PATTERN with at least one character that is not white space. */
export const NON_BLANK_TEXT_PATTERN = `(?=[\\s\\S]*\\S)${STORABLE_TEXT_PATTERN}`;

/**
 * Text as `text()` with at least one character that is not white space, so that `.trim().min(1)`
 * after it refuses nothing the document allows.
 */
export const nonBlankText = () =>
  z.string().check(storableText).regex(/\S/, "must not be blank").openapi({ pattern: NON_BLANK_TEXT_PATTERN });

/** A whole number as a query or path parameter writes it: decimal digits and nothing else. */
const DECIMAL_DIGITS = /^[0-9]+$/;

/**
 * A whole number from a query or path parameter, `min` to `max`: only decimal digits (`^[0-9]+$`),
 * so `1e3`, `0x10`, `+5`, ` 5` and `5.0`, which `Number()` would read as numbers, are a 400 naming
 * the parameter. Documented as `type: integer` with its bounds (OpenAPI 3.1 §4.8.12.4, parameters
 * in the simple style: the number is sent as its digits).
 */
export const integerParam = (min: number, max: number) =>
  z
    .string()
    .regex(DECIMAL_DIGITS, "must be a whole number in decimal digits (0-9)")
    .transform(Number)
    // Digits alone make a whole number, so zod's `int()` would only add a second error for values
    // beyond 2^53 naming that internal bound; `max` already names the parameter's own.
    .pipe(z.number().min(min).max(max))
    .openapi({ type: "integer", minimum: min, maximum: max });

/**
 * A parameter in `integer` (int4) range, at least `min` (see `integerParam`): `2147483648` is a
 * 400 here, not SQLSTATE 22003 in Postgres.
 */
export const int4 = (min = 1) => integerParam(min, INT4_MAX);

/**
 * An RFC 3339 date-time with a zone (`Z` or an offset) whose instant Postgres can read as a
 * `timestamptz` parameter: UTC years 1 to 9999 (see `isPostgresInstant`).
 */
export const instant = () =>
  z.iso
    .datetime({ offset: true })
    .refine((value) => isPostgresInstant(new Date(value)), "outside the dates this service stores (years 1 to 9999)");

/**
 * A check for a JSON object stored as `jsonb`: every string and key is text Postgres can hold, every
 * number finite, nesting at most `MAX_JSON_DEPTH` deep (`jsonProblem`). The issue points at the first
 * value that is not (a key's problem, at its object).
 */
export const storableJson: z.core.CheckFn<Record<string, unknown>> = (ctx) => {
  const found = jsonProblem(ctx.value);
  if (found) ctx.issues.push({ code: "custom", message: found.message, path: found.path, input: ctx.value });
};

/**
 * A UUID from a request (path, query or body), in its canonical form: lowercase. RFC 9562 §4
 * (formerly RFC 4122 §3): the hex digits are compared case-insensitively and written lowercase,
 * and Postgres reads `3F2A…` and `3f2a…` as the same `uuid`; so without this a comparison in the
 * code (the caller's own id against a path parameter: grant rule "self", leaving a share) sees two
 * different strings where the database sees one account. Every request id goes through here; the
 * handler only ever sees the lowercase form. Documented as `format: uuid`.
 */
export const uuid = () => z.uuid().toLowerCase();
