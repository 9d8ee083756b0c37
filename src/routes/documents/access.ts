import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import { asCaller } from "../../app/database.ts";
import { firstRow } from "../../db/actor.ts";
import { accessFrom, selectReadableDocument, selectShareAccess, selectVersion } from "../../db/queries/documents.ts";
import type { Document, DocumentVersion } from "../../db/schema/documents.ts";
import { cannotManage, cannotWrite, noDocument } from "../../documents/rules.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { viewerOf } from "../viewer.ts";
import { servable } from "./downloads.ts";

// Who may read and change a document, each answered in one HTTP round trip (READ ONLY batch).

/** A document the caller may read; 404 otherwise. One HTTP round trip. */
export async function readable(c: Context<AppEnv>, id: string): Promise<Document> {
  const [rows] = await asCaller(c).read((db) => [selectReadableDocument(db, { id, viewer: viewerOf(c) })]);
  const document = firstRow(rows);
  if (!document) throw noDocument(id);
  return document;
}

/**
 * A document the caller may read and one of its versions (`number`, or the current one): one HTTP
 * round trip. 404 if the document cannot be read; `version` undefined if there is no such version.
 */
export async function readableVersion(
  c: Context<AppEnv>,
  id: string,
  number: number | undefined,
): Promise<{ document: Document; version: DocumentVersion | undefined }> {
  const [rows, versions] = await asCaller(c).read((db) => [
    selectReadableDocument(db, { id, viewer: viewerOf(c) }),
    selectVersion(db, { documentId: id, version: number }),
  ]);
  const document = firstRow(rows);
  if (!document) throw noDocument(id);
  return { document, version: firstRow(versions) };
}

/**
 * A version whose content the caller may download (`number`, or the current one) and its document:
 * one HTTP round trip (`readableVersion`). 404 when the document cannot be read or has no such
 * version; 409 when the version may not be served (`servable`: quarantined, or not scanned yet).
 */
export async function servableVersion(
  c: Context<AppEnv>,
  id: string,
  number: number | undefined,
): Promise<{ document: Document; version: DocumentVersion }> {
  const { document, version } = await readableVersion(c, id, number);
  if (!version)
    throw new ApiError("not_found", { detail: `No version ${number ?? document.currentVersion} of ${id}.` });
  servable(version);
  return { document, version };
}

/**
 * A document the caller may change (the owner of a personal document, a write share, an editor or
 * more of its project, an admin); 404 if they cannot even read it, 403 if they only read it, 409
 * if its project is archived. One HTTP round trip (the document, the caller's share and project
 * role together).
 */
export async function writable(c: Context<AppEnv>, id: string): Promise<Document> {
  const { document, facts } = await readableWithAccess(c, id);
  if (accessFrom(document, viewerOf(c), facts) === "read") {
    throw cannotWrite(document, facts);
  }
  return document;
}

/** A document the caller may read, and what else gives them rights on it (`AccessFacts`): one HTTP round trip. */
async function readableWithAccess(c: Context<AppEnv>, id: string) {
  const viewer = viewerOf(c);
  const [rows, share] = await asCaller(c).read((db) => [
    selectReadableDocument(db, { id, viewer }),
    selectShareAccess(db, { documentId: id, userId: viewer.userId }),
  ]);
  const document = firstRow(rows);
  if (!document) throw noDocument(id);
  return { document, facts: firstRow(share) };
}

/**
 * A document the caller manages (deleting it, moving it, its shares): the owner of a personal
 * document, an owner or admin of its project, or an administrator. 404 if they cannot read it,
 * 403 `forbidden` with `detail` if they only read or edit it, 409 if its project is archived.
 * `unless` names a user who is let through too (a share's own user, who may leave it);
 * `evenArchived` lets an archived project's owners and admins through (ending a share). One HTTP
 * round trip.
 */
export async function managed(
  c: Context<AppEnv>,
  id: string,
  detail: string,
  options: { unless?: string; evenArchived?: boolean } = {},
): Promise<Document> {
  const { document, facts } = await readableWithAccess(c, id);
  if (options.unless === viewerOf(c).userId) return document;
  // Taking access away (ending a share) stays possible for an archived project's owners and admins.
  const role = facts?.projectRole;
  if (options.evenArchived && facts?.projectArchived && (role === "owner" || role === "admin")) return document;
  if (accessFrom(document, viewerOf(c), facts) !== "manage") throw cannotManage(document, facts, detail);
  return document;
}
