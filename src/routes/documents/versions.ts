import { z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { firstRow } from "../../db/actor.ts";
import { selectReadableDocument, selectVersions } from "../../db/queries/documents.ts";
import { intakeVersion } from "../../documents/intake.ts";
import { noDocument } from "../../documents/rules.ts";
import { restoreVersion } from "../../documents/versions.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { ConditionalWriteHeaders, VALIDATOR_HEADERS } from "../conditional.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { viewerOf } from "../viewer.ts";
import { writable } from "./access.ts";
import { intakeDeps, uploadInput } from "./deps.ts";
import { documentBody, unchangedSince } from "./preconditions.ts";
import {
  DocumentIdParams,
  DocumentSchema,
  toVersionJson,
  UploadBody,
  UploadQuery,
  VersionParams,
  VersionSchema,
} from "./schemas.ts";
import { searchChanged } from "./search-changes.ts";

// A document's versions: a new one uploaded, the list, an old one restored as the newest.

const uploadRoute = protectedRoute(
  "caller",
  {
    method: "post",
    path: "/documents/{id}/versions",
    tags: ["Documents"],
    summary: "Upload a new version",
    description:
      "Same body as an upload; the new version becomes the current one and is processed. Title and tags, if given, change too. With `If-Match` or `If-Unmodified-Since`, only if the document has not changed since: checked before any byte is stored and again when the version is recorded (412 otherwise; nothing stays stored).",
    request: { params: DocumentIdParams, query: UploadQuery, headers: ConditionalWriteHeaders, body: UploadBody },
    responses: {
      201: {
        ...jsonResponse("The document, now at the new version, with its new `ETag`.", DocumentSchema),
        headers: VALIDATOR_HEADERS,
      },
      ...problemResponses(400, 403, 404, 409, 412, 413, 415, 503),
    },
  },
  { projectKeys: "row-level-security" },
);

const uploadVersion = createRouter().openapi(uploadRoute, async (c) => {
  const { id } = c.req.valid("param");
  // Checked before any byte is stored, and again under the lock when the version is recorded
  // (a change meanwhile fails it there, and the stored object is removed).
  const before = await writable(c, id);
  const requireUnchanged = unchangedSince(c);
  await requireUnchanged(before);
  // Counted against the document's owner, or its project, whoever uploads.
  const { userId, actor } = callerOf(c);
  const document = await intakeVersion(
    intakeDeps(c),
    {
      documentId: id,
      actor,
      ownerId: before.ownerId,
      projectId: before.projectId,
      createdBy: userId,
      viewer: viewerOf(c),
    },
    { ...uploadInput(c), requireUnchanged },
  );
  await searchChanged(c, id);
  const response = await documentBody(document);
  return c.json(response.body, 201, { ...response.headers, Location: `/documents/${id}` });
});

const listRoute = protectedRoute(
  "caller",
  {
    method: "get",
    path: "/documents/{id}/versions",
    tags: ["Documents"],
    summary: "All versions, newest first",
    request: { params: DocumentIdParams },
    responses: {
      200: jsonResponse("Versions.", z.object({ data: z.array(VersionSchema) })),
      ...problemResponses(400, 404, 503),
    },
  },
  { projectKeys: "row-level-security" },
);

const listVersions = createRouter().openapi(listRoute, async (c) => {
  const { id } = c.req.valid("param");
  const database = asCaller(c);
  const [found, rows] = await database.read((db) => [
    selectReadableDocument(db, { id, viewer: viewerOf(c) }),
    selectVersions(db, { documentId: id }),
  ]);
  if (!firstRow(found)) throw noDocument(id);
  // The operator's detail of a failure is for administrators only (OWASP API8:2023).
  const { actor } = database;
  const detail = actor.kind === "user" && actor.role === "admin";
  return c.json({ data: rows.map((row) => toVersionJson(row, { detail })) }, 200);
});

const restoreRoute = protectedRoute(
  "caller",
  {
    method: "post",
    path: "/documents/{id}/versions/{version}/restore",
    tags: ["Documents"],
    summary: "Restore an old version (as a new version)",
    description:
      "Creates a new current version with the old one's content (the stored object is shared, never changed) and processes it again. With `If-Match` or `If-Unmodified-Since`, only if the document has not changed since (412 otherwise).",
    request: { params: VersionParams, headers: ConditionalWriteHeaders },
    responses: {
      201: {
        ...jsonResponse("The document, at the restored version, with its new `ETag`.", DocumentSchema),
        headers: VALIDATOR_HEADERS,
      },
      ...problemResponses(400, 403, 404, 409, 412, 503),
    },
  },
  // A restore may run the processing pipeline again without a byte sent (OWASP API4:2023).
  { rateLimit: "processing", projectKeys: "row-level-security" },
);

const restoreOldVersion = createRouter().openapi(restoreRoute, async (c) => {
  const { id, version } = c.req.valid("param");
  const before = await writable(c, id);
  // The access rule of `writable` is applied again on the locked row, in the restoring transaction.
  const document = await restoreVersion(
    intakeDeps(c),
    { documentId: id, version, ownerId: before.ownerId, projectId: before.projectId, viewer: viewerOf(c) },
    unchangedSince(c),
  );
  await searchChanged(c, id);
  const response = await documentBody(document);
  return c.json(response.body, 201, response.headers);
});

/** `/documents/{id}/versions`: upload a new version, list them, restore an old one. */
export const manageVersions = createRouter()
  .route("/", uploadVersion)
  .route("/", listVersions)
  .route("/", restoreOldVersion);
