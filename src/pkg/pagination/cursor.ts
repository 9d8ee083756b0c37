import { invalidField } from "../errors/api-error.ts";
import { isPostgresTimestampText } from "../validation/postgres.ts";

/**
 * A keyset position for lists ordered by (created_at desc, id desc): the exact creation time as
 * Postgres prints it (microseconds kept, unlike a JS Date) and the id. Opaque to clients.
 */
export interface KeysetCursor {
  createdAt: string;
  id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The opaque `cursor` a page hands out: `<createdAt>|<id>` in base64 without its `=` padding. Not
 * signed: a forged cursor only moves a caller within what it may list anyway (`decodeCursor`
 * checks its shape).
 */
export function encodeCursor(cursor: KeysetCursor): string {
  return btoa(`${cursor.createdAt}|${cursor.id}`).replace(/=+$/, "");
}

/**
 * The position a cursor names, or undefined when it is not one we issued. Its time must be one
 * Postgres reads back (a real day, see `isPostgresTimestampText`): a forged `2026-02-30` would
 * otherwise fail the query with SQLSTATE 22008.
 */
export function decodeCursor(cursor: string): KeysetCursor | undefined {
  try {
    const [createdAt, id, ...rest] = atob(cursor).split("|");
    if (!createdAt || !id || rest.length > 0 || !isPostgresTimestampText(createdAt) || !UUID.test(id)) return undefined;
    return { createdAt, id };
  } catch {
    return undefined;
  }
}

/**
 * The cursor of a `cursor` query parameter (undefined when absent). Throws a 400
 * `validation_failed` naming `query /cursor` when it is not one we issued.
 */
export function cursorParam(cursor: string | undefined): KeysetCursor | undefined {
  if (cursor === undefined) return undefined;
  const decoded = decodeCursor(cursor);
  if (!decoded) throw invalidField("query", "/cursor", "not a cursor this API returned");
  return decoded;
}

/**
 * One page from the `limit + 1` rows a keyset query fetched: the first `limit` to show, and the
 * cursor of the next page (null when the extra row was not there: this is the last page).
 */
export function pageOf<T extends { cursor: KeysetCursor }>(
  rows: T[],
  limit: number,
): { page: T[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { page, nextCursor: rows.length > limit && last ? encodeCursor(last.cursor) : null };
}
