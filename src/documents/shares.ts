import { requireVerifiedEmail } from "../auth/account-lifecycle.ts";
import { type Actor, asActor, SYSTEM } from "../db/actor.ts";
import type { DatabaseHandle } from "../db/client.ts";
import { deleteShare, listShares, lockShares, putShare } from "../db/queries/documents.ts";
import { findUserByLogin, getUser } from "../db/queries/users.ts";
import type { Document, ShareAccess } from "../db/schema/documents.ts";

/** One share of a document, with the username of the user it is shared with. */
export type Share = Awaited<ReturnType<typeof listShares>>[number];

/**
 * The conditions of a conditional change of the shares, checked on the list as it is under the
 * shares lock: resolves when they hold, throws 412 otherwise. The HTTP layer builds it from the
 * request's If-Match and the list's representation.
 */
export type RequireSharesUnchanged = (current: Share[]) => Promise<void>;

/**
 * A document's shares, oldest first, read as the system in their own transaction (usernames come
 * from the users table, which only staff may read across users): committed ones only.
 */
export function sharesOf(database: DatabaseHandle, documentId: string): Promise<Share[]> {
  return asActor(database.db, SYSTEM, (tx) => listShares(tx, { documentId }));
}

/**
 * Shares `document` with the account `login` names (email or username) for `access`, as `actor`
 * (its owner or an admin: the HTTP layer checked), under the document's shares lock once
 * `requireUnchanged` holds for the list. Whether the login names an active account other than the
 * owner is never told (ASVS V2.2, enumeration): every path takes the same steps, and an unknown,
 * disabled or the owner's own login changes nothing. Resolves to the user id shared with, if any
 * (their search results change too). Throws 412 from `requireUnchanged`; 403 when the granter's
 * address is not verified (`requireVerifiedEmail`).
 */
export async function grantShare(
  database: DatabaseHandle,
  actor: Actor,
  grant: { document: Document; login: string; access: ShareAccess; grantedBy: string },
  requireUnchanged: RequireSharesUnchanged,
): Promise<string | undefined> {
  const documentId = grant.document.id;
  const [granter, found] = await asActor(database.db, SYSTEM, async (tx) => [
    await getUser(tx, { id: grant.grantedBy }),
    await findUserByLogin(tx, { login: grant.login }),
  ]);
  requireVerifiedEmail(granter, "share documents");
  // Never the owner, nor the granter: a project's admin sharing with themselves would keep the
  // document after leaving the project.
  const target =
    found?.status === "active" && found.id !== grant.document.ownerId && found.id !== grant.grantedBy
      ? found
      : undefined;
  await asActor(database.db, actor, async (tx) => {
    await lockShares(tx, { documentId });
    await requireUnchanged(await sharesOf(database, documentId));
    if (target) {
      await putShare(tx, { documentId, userId: target.id, access: grant.access, grantedBy: grant.grantedBy });
    }
  });
  return target?.id;
}

/**
 * Ends the share of `documentId` with `userId` as `actor` (the owner, an admin, or that user
 * leaving: the HTTP layer checked), under the shares lock. Resolves to false when there is no
 * such share, whatever the preconditions say (RFC 9110 §13.2.1); otherwise `requireUnchanged` must
 * hold for the list (412). The list is the owner's view (usernames read as the system, committed:
 * every change of shares holds the lock taken first).
 */
export async function endShare(
  database: DatabaseHandle,
  actor: Actor,
  share: { documentId: string; userId: string },
  requireUnchanged: RequireSharesUnchanged,
): Promise<boolean> {
  return asActor(database.db, actor, async (tx) => {
    await lockShares(tx, share);
    const list = await sharesOf(database, share.documentId);
    if (!list.some((entry) => entry.userId === share.userId)) return false;
    await requireUnchanged(list);
    return deleteShare(tx, share);
  });
}
