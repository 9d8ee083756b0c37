import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import { asCaller } from "../../app/database.ts";
import { firstRow } from "../../db/actor.ts";
import { accessFrom, selectReadableDocument, selectShareAccess, selectVersion } from "../../db/queries/documents.ts";
import type { Document, DocumentVersion } from "../../db/schema/documents.ts";
import { noDocument, readOnlyShare } from "../../documents/rules.ts";
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
 * A document the caller may change (owner, write share, admin); 404 if they cannot even read it,
 * 403 if they only read it. One HTTP round trip (the document and the caller's share together).
 */
export async function writable(c: Context<AppEnv>, id: string): Promise<Document> {
  const viewer = viewerOf(c);
  const [rows, share] = await asCaller(c).read((db) => [
    selectReadableDocument(db, { id, viewer }),
    selectShareAccess(db, { documentId: id, userId: viewer.userId }),
  ]);
  const document = firstRow(rows);
  if (!document) throw noDocument(id);
  if (accessFrom(document, viewer, firstRow(share)) === "read") throw readOnlyShare();
  return document;
}

/**
 * A document the caller manages, as its owner or an admin (deleting it, its shares): 404 if they
 * cannot read it, 403 `forbidden` with `refusal` as detail if they only read or edit it. `unless`
 * names a user who is let through too (a share's own user, who may leave it). One HTTP round trip.
 */
export async function managed(
  c: Context<AppEnv>,
  id: string,
  refusal: string,
  options: { unless?: string } = {},
): Promise<Document> {
  const document = await readable(c, id);
  const viewer = viewerOf(c);
  const manages = document.ownerId === viewer.userId || viewer.writesAll || options.unless === viewer.userId;
  if (!manages) throw new ApiError("forbidden", { detail: refusal });
  return document;
}
