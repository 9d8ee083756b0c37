import { type Actor, batchAsActor, firstRow, READ_ONLY, SYSTEM } from "../db/actor.ts";
import type { HttpDatabase } from "../db/client.ts";
import {
  EXPORT_PAGE_ROWS,
  requestAccountDeletion,
  selectOwnDocumentsPage,
  selectOwnMemberships,
  selectOwnNotificationsPage,
} from "../db/queries/accounts.ts";
import {
  asSeenByTarget,
  type RequestOrigin,
  recordSecurityEvent,
  selectSecurityEventsPage,
} from "../db/queries/audit.ts";
import { type PublicUser, selectUser } from "../db/queries/users.ts";
import type { UserRole } from "../db/schema/users.ts";
import { ApiError } from "../pkg/errors/api-error.ts";
import { type SessionsNamespace, withUserSessions } from "./user-sessions.ts";

/**
 * How recent a sign-in deleting one's account needs, in seconds (RFC 9470 `max_age`): a session
 * left open on a shared computer, or a stolen refresh token, cannot erase the account.
 */
export const DELETION_MAX_AUTH_AGE_SECONDS = 300;

/**
 * Deletes the caller's own account (`DELETE /users/me`; the route checks the sign-in is recent).
 * At once, in one HTTP batch as the system: the account is disabled and marked for erasure, its
 * personal documents and the projects it alone owns (with their documents) are marked deleted,
 * and the security event `user.deleted` is recorded, with a read of the user's principal queued in
 * the SESSIONS outbox, all in one statement that does nothing when nothing is deleted; then every
 * session of the user ends. The
 * sweeper erases the rest: the documents' objects and rows, then the account's row (its project
 * documents pass to the projects' other owners).
 *
 * Postgres: 1 round trip. Durable Object calls: 1 (the user's SESSIONS object).
 * @returns how many projects and documents were deleted with it
 * An admin's account is refused (409): deleting it here, as the system, would pass by the grant
 * rules, and the last admin would leave the platform without one. Another admin demotes it
 * (`PUT /users/{id}/role`) or deletes it (`DELETE /users/{id}`). The query itself refuses an
 * admin, so a session that does not know yet of a promotion cannot slip through.
 * @throws ApiError 409 `conflict` for an admin's account (no round trip when the session says so);
 *   404 when the account is gone or its deletion was already asked for;
 *   DependencyError (503) for the database or the SESSIONS object (the deletion is committed then,
 *   with a read of the principal queued in the SESSIONS outbox: its cron ends the sessions)
 */
const adminDeletingSelf = () =>
  new ApiError("conflict", {
    detail:
      "An admin's account is not deleted from /users/me: another admin demotes you first (PUT /users/{id}/role) or deletes your account.",
  });

export async function deleteOwnAccount(
  deps: { http: HttpDatabase; sessions: SessionsNamespace },
  request: { userId: string; role: UserRole; origin: RequestOrigin },
): Promise<{ projects: number; documents: number }> {
  const { userId } = request;
  if (request.role === "admin") throw adminDeletingSelf();
  const [marked] = await batchAsActor(deps.http, SYSTEM, (db) => [
    requestAccountDeletion(db, { userId, origin: request.origin }),
  ]);
  const counts = firstRow(marked.rows);
  if (!counts) {
    // Nothing happened: gone, already asked for, or an admin the session did not know of yet.
    const [standing] = await batchAsActor(deps.http, SYSTEM, (db) => [selectUser(db, { id: userId })], READ_ONLY);
    if (firstRow(standing)?.role === "admin") throw adminDeletingSelf();
    throw new ApiError("not_found", { detail: "This account no longer exists." });
  }
  await withUserSessions(deps.sessions, userId, (stub) =>
    stub.setPrincipal({ role: "user", status: "disabled", permissions: [] }),
  );
  return counts;
}

/** One page of a list read by keyset: its rows and the position after the last (undefined at the end). */
type PageReader<K> = (after: K | undefined) => Promise<{ rows: unknown[]; next: K | undefined }>;

/** Every row of a keyset-paginated list, a page at a time. */
async function* rowsOf<K>(readPage: PageReader<K>): AsyncGenerator<unknown> {
  let after: K | undefined;
  do {
    const page = await readPage(after);
    yield* page.rows;
    after = page.next;
  } while (after !== undefined);
}

/**
 * The caller's data as one JSON document (`GET /users/me/export`, GDPR Art. 20): `exportedAt`,
 * `profile` (as `shape` makes it), `projectMemberships`, `documents` (metadata of the documents
 * they own, not deleted; not the files), `notifications`, and `securityEvents` (the audit entries
 * about their account, newest first, as `GET /users/me/security-events` shows them: an
 * administrator's address and user agent withheld). Everything is read under the caller's row-level security, filtered to
 * what they own or what concerns them, so a document shared with them by someone else is not
 * theirs to export. The profile, the memberships and the security event `user.data_exported` are
 * one HTTP batch before the answer starts; the lists follow as the body is read, a page of
 * `EXPORT_PAGE_ROWS` (500) rows per HTTP batch, so memory holds one page whatever their number.
 *
 * @returns the body, streamed
 * @throws ApiError 404 when the account is gone; DependencyError (503) from the first batch. A
 *   failure after the first byte errors the stream (the download breaks off).
 */
export async function exportAccountData<P>(
  deps: { http: HttpDatabase },
  request: { actor: Actor; userId: string; origin: RequestOrigin; shape: (user: PublicUser) => P },
): Promise<ReadableStream<Uint8Array>> {
  const { http } = deps;
  const { actor, userId } = request;
  const [, found, memberships] = await batchAsActor(http, actor, (db) => [
    recordSecurityEvent(db, {
      action: "user.data_exported",
      actorId: userId,
      targetUserId: userId,
      origin: request.origin,
    }),
    selectUser(db, { id: userId }),
    selectOwnMemberships(db, { userId }),
  ]);
  const user = firstRow(found);
  if (!user) throw new ApiError("not_found", { detail: "This account no longer exists." });

  const lastId = <K>(rows: { id: K }[]) => (rows.length === EXPORT_PAGE_ROWS ? rows[rows.length - 1]?.id : undefined);
  const documents: PageReader<string> = async (afterId) => {
    const [rows] = await batchAsActor(
      http,
      actor,
      (db) => [selectOwnDocumentsPage(db, { userId, afterId })],
      READ_ONLY,
    );
    return { rows, next: lastId(rows) };
  };
  const notifications: PageReader<string> = async (afterId) => {
    const [rows] = await batchAsActor(
      http,
      actor,
      (db) => [selectOwnNotificationsPage(db, { userId, afterId })],
      READ_ONLY,
    );
    return { rows, next: lastId(rows) };
  };
  // The same events, and the same view of them, as `GET /users/me/security-events`: newest first,
  // an administrator's address and user agent withheld.
  const securityEvents: PageReader<number> = async (afterId) => {
    const [rows] = await batchAsActor(
      http,
      actor,
      (db) => [selectSecurityEventsPage(db, { targetUserId: userId, afterId, limit: EXPORT_PAGE_ROWS })],
      READ_ONLY,
    );
    // The query reads one row more than `limit` to tell whether another page follows.
    const page = rows.slice(0, EXPORT_PAGE_ROWS);
    const next = rows.length > EXPORT_PAGE_ROWS ? page[page.length - 1]?.id : undefined;
    return { rows: page.map((event) => asSeenByTarget(event, userId)), next };
  };

  const head = {
    exportedAt: new Date().toISOString(),
    profile: request.shape(user),
    projectMemberships: memberships,
  };
  const lists: [string, () => AsyncGenerator<unknown>][] = [
    ["documents", () => rowsOf(documents)],
    ["notifications", () => rowsOf(notifications)],
    ["securityEvents", () => rowsOf(securityEvents)],
  ];
  async function* pieces(): AsyncGenerator<string> {
    // The head's JSON without its closing brace; each list is appended as a member.
    yield JSON.stringify(head).slice(0, -1);
    for (const [name, rows] of lists) {
      yield `,${JSON.stringify(name)}:[`;
      let first = true;
      for await (const row of rows()) {
        yield `${first ? "" : ","}${JSON.stringify(row)}`;
        first = false;
      }
      yield "]";
    }
    yield "}";
  }
  const encoder = new TextEncoder();
  const iterator = pieces();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await iterator.next();
      if (done) controller.close();
      else controller.enqueue(encoder.encode(value));
    },
    async cancel() {
      await iterator.return(undefined);
    },
  });
}
