import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { actAs, firstRow, SYSTEM } from "../../db/actor.ts";
import {
  accessFrom,
  getDocument,
  recordDocumentChanges,
  selectDocumentAudience,
  selectReadableDocument,
  selectShareAccess,
  updateDocument,
} from "../../db/queries/documents.ts";
import type { Document } from "../../db/schema/documents.ts";
import { lockedForWrite, noDocument, readOnlyShare } from "../../documents/rules.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { ConditionalWriteHeaders, VALIDATOR_HEADERS } from "../conditional.ts";
import { jsonBody, jsonResponse, protectedRoute } from "../openapi.ts";
import { viewerOf } from "../viewer.ts";
import { conditionalWrite, documentBody, unchangedSince } from "./preconditions.ts";
import { DocumentIdParams, DocumentSchema, UpdateDocumentSchema } from "./schemas.ts";
import { audienceChanged, searchChanged } from "./search-changes.ts";

const route = protectedRoute("caller", {
  method: "patch",
  path: "/documents/{id}",
  tags: ["Documents"],
  summary: "Change title or tags",
  description:
    "With `If-Match` (the ETag of `GET /documents/{id}`) or `If-Unmodified-Since`, only if the document has not changed since: otherwise 412 and nothing changes.",
  request: { params: DocumentIdParams, headers: ConditionalWriteHeaders, body: jsonBody(UpdateDocumentSchema) },
  responses: {
    200: { ...jsonResponse("The document, with its new `ETag`.", DocumentSchema), headers: VALIDATOR_HEADERS },
    ...problemResponses(400, 403, 404, 412, 415, 503),
  },
});

export const editDocument = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  const body = c.req.valid("json");
  const viewer = viewerOf(c);
  const changes = { id, viewer, title: body.title, tags: body.tags };
  let document: Document | undefined;
  let audience: readonly { id: string }[] | undefined;
  if (conditionalWrite(c)) {
    // Access, then the locked row's validators, then the write: one WebSocket transaction.
    document = await asCaller(c).transaction(async (tx) => {
      const current = await getDocument(tx, { id, viewer });
      if (!current) throw noDocument(id);
      const share = firstRow(await selectShareAccess(tx, { documentId: id, userId: viewer.userId }));
      if (accessFrom(current, viewer, share) === "read") throw readOnlyShare();
      await lockedForWrite(tx, { id, viewer }, unchangedSince(c));
      return updateDocument(tx, changes);
    });
  } else {
    // The write states its own access rule; the reads beside it tell a 404 from a 403 when it
    // changed nothing; last, as the system, who sees the document (for the search cache). One
    // HTTP round trip.
    const [found, share, changed, , readers] = await asCaller(c).write((db) => [
      selectReadableDocument(db, { id, viewer }),
      selectShareAccess(db, { documentId: id, userId: viewer.userId }),
      recordDocumentChanges(db, changes),
      actAs(db, SYSTEM),
      selectDocumentAudience(db, { documentId: id }),
    ]);
    document = firstRow(changed);
    audience = readers;
    const current = firstRow(found);
    if (!document && current && accessFrom(current, viewer, firstRow(share)) === "read") throw readOnlyShare();
  }
  if (!document) throw noDocument(id);
  await (audience ? audienceChanged(c, audience) : searchChanged(c, id));
  const response = await documentBody(document);
  return c.json(response.body, 200, response.headers);
});
