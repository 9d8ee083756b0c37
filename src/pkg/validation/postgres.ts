/**
 * What a PostgreSQL value can hold, checked before a client's value is sent: a value Postgres
 * cannot read fails the whole statement with a data exception (SQLSTATE class 22), which is the
 * client's mistake and must be refused at the edge, naming the field.
 */

/** Largest `integer` (int4), PostgreSQL §8.1.1. */
export const INT4_MAX = 2_147_483_647;

/** Why `text` cannot be a Postgres text value, or undefined when it can. */
export function textProblem(text: string): string | undefined {
  // PostgreSQL §8.3: "the character with code zero (sometimes called NUL) cannot be stored".
  if (text.includes("\u0000")) return "must not contain U+0000 (NUL)";
  // An unpaired UTF-16 surrogate has no UTF-8 encoding (RFC 3629 §3); the driver would store U+FFFD instead.
  if (!text.isWellFormed()) return "must not contain an unpaired surrogate (not Unicode text)";
  return undefined;
}

/** Whether `text` can be a Postgres text value (no NUL, well-formed Unicode). */
export function isPostgresText(text: string): boolean {
  return textProblem(text) === undefined;
}

/** How deeply a client's JSON value may nest (objects and arrays); deeper is refused, not walked. */
export const MAX_JSON_DEPTH = 32;

/**
 * The first place inside a JSON value (object keys included) that a `jsonb` cannot hold, as a path
 * of keys and indexes, with why; undefined when it is all storable. `jsonb` refuses `\u0000` and
 * unpaired surrogates in strings (PostgreSQL §8.14: jsonb "will reject" `\u0000`). A number
 * `JSON.parse` could only read as ±Infinity (`1e400`) would be stored as null, so it is refused
 * too, and so is nesting deeper than `MAX_JSON_DEPTH`. Walked with a stack of its own, so no input
 * can exhaust the call stack.
 */
export function jsonProblem(value: unknown): { path: (string | number)[]; message: string } | undefined {
  const pending: { value: unknown; path: (string | number)[] }[] = [{ value, path: [] }];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const { value: item, path } = next;
    if (typeof item === "string") {
      const message = textProblem(item);
      if (message) return { path, message };
    } else if (typeof item === "number") {
      if (!Number.isFinite(item)) return { path, message: "must be a number a 64-bit float can hold" };
    } else if (item !== null && typeof item === "object") {
      if (path.length >= MAX_JSON_DEPTH) return { path, message: `must not nest deeper than ${MAX_JSON_DEPTH} levels` };
      const entries: [string | number, unknown][] = Array.isArray(item) ? [...item.entries()] : Object.entries(item);
      for (const [key] of entries) {
        const keyProblem = typeof key === "string" ? textProblem(key) : undefined;
        if (keyProblem) return { path, message: `a key ${keyProblem}` };
      }
      // Reversed onto the stack, so children are looked at in document order.
      for (const [key, child] of entries.reverse()) pending.push({ value: child, path: [...path, key] });
    }
  }
  return undefined;
}

/**
 * Whether a `Date` can be sent to Postgres as a `timestamptz` parameter. Postgres reads 4713 BC to
 * 294276 AD (PostgreSQL §8.5), but drizzle sends a Date as `toISOString()`, which spells year 0 (not
 * a year in Postgres: 1 BC is followed by 1 AD) and years beyond 9999 with a sign Postgres does not
 * read. So the instant, in UTC, must lie in the years 1 to 9999.
 */
export function isPostgresInstant(date: Date): boolean {
  const year = date.getUTCFullYear();
  return Number.isFinite(date.getTime()) && year >= 1 && year <= 9999;
}

const TIMESTAMPTZ_TEXT = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?([+-])(\d{2})(?::(\d{2}))?$/;

/**
 * Whether `text` is a `timestamptz` as Postgres prints it (`2026-11-24 13:05:01.123456+00`, ISO
 * output style, PostgreSQL §8.5.2) naming an instant Postgres will read back: a real calendar day
 * and time of day, year 1 to 9999, and a UTC offset within ±15:59 (Postgres refuses larger ones).
 */
export function isPostgresTimestampText(text: string): boolean {
  const match = TIMESTAMPTZ_TEXT.exec(text);
  if (!match) return false;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const offsetHours = Number(match[9]);
  const offsetMinutes = Number(match[10] ?? "0");
  if (year < 1 || offsetHours > 15 || offsetMinutes > 59) return false;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  // Date rolls 30 February over into March and 24:30 into the next day; a real one comes back unchanged.
  return (
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second
  );
}
