import type { Transaction } from "../db/actor.ts";
import { type AccessFacts, lockDocument, type Viewer } from "../db/queries/documents.ts";
import type { Document } from "../db/schema/documents.ts";
import { ApiError } from "../pkg/errors/api-error.ts";
import { projectArchived, roleTooLow } from "../projects/rules.ts";

// What every change of a document refuses, and how a change waits for and checks the row it writes.

/** 404 `not_found` for a document the caller cannot see (or that does not exist: never told apart). */
export const noDocument = (id: string) => new ApiError("not_found", { detail: `No document ${id}.` });

/** 404 `not_found`: the owner a quota is counted against was deleted meanwhile. */
export const ownerGone = () => new ApiError("not_found", { detail: "The document's owner no longer exists." });

/** 403 `forbidden`: the caller reads the document through a read share and may not change it. */
export const readOnlyShare = () =>
  new ApiError("forbidden", { detail: "This document is shared with you for reading only." });

/**
 * Why the caller may not change a document they read (`accessFrom` said `read`): its project is
 * archived (409 `conflict`), their project role only reads (403), or they hold a read share (403).
 */
export function cannotWrite(document: Document, facts: Partial<AccessFacts> | undefined): ApiError {
  if (document.projectId !== null && facts?.projectArchived) return projectArchived(document.projectId);
  if (document.projectId !== null && facts?.projectRole) return roleTooLow("write", facts.projectRole);
  return readOnlyShare();
}

/**
 * Why the caller may not manage (delete, move, share) a document they read: its project is
 * archived (409), or `detail` (403: they read or edit it only).
 */
export function cannotManage(document: Document, facts: Partial<AccessFacts> | undefined, detail: string): ApiError {
  if (document.projectId !== null && facts?.projectArchived) return projectArchived(document.projectId);
  return new ApiError("forbidden", { detail });
}

/**
 * The conditions of a conditional request (RFC 9110 §13.1), checked against the document as it
 * is now, locked: resolves when they hold (or none were sent), throws 412 `precondition_failed`
 * otherwise. The HTTP layer builds it from the request's If-Match / If-Unmodified-Since and the
 * document's validators (its representation's ETag), which the domain does not know.
 */
export type RequireUnchanged = (current: Document) => Promise<void>;

/**
 * Locks the document in the writing transaction (`select … for update`, as `viewer`) and runs
 * `requireUnchanged` on it: the check and the write see the same state, and a concurrent writer
 * waits for the lock and then fails its own check. Throws 404 `not_found` if the document is gone
 * or not visible, and whatever `requireUnchanged` throws (412).
 */
export async function lockedForWrite(
  tx: Transaction,
  target: { id: string; viewer: Viewer },
  requireUnchanged: RequireUnchanged,
): Promise<Document> {
  const current = await lockDocument(tx, target);
  if (!current) throw noDocument(target.id);
  await requireUnchanged(current);
  return current;
}
