import { createRoute, z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { getDocument, insertDocument } from "../../db/queries/documents.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { hashingStream } from "../../pkg/storage/hashing.ts";
import { DocumentIdParams, DocumentSchema, toDocumentJson, UploadHeaders, UploadQuery } from "./schemas.ts";

const upload = createRoute({
  method: "post",
  path: "/documents",
  tags: ["Documents"],
  summary: "Upload a document (raw body, streamed)",
  description:
    "The body is the file itself, sent with its `Content-Type` and `Content-Length`. It is streamed to object storage and hashed on the way (never held in memory); the metadata row and a `document.uploaded` event follow. If any step fails, nothing is left behind and the answer is 503.",
  request: {
    query: UploadQuery,
    headers: UploadHeaders,
    body: {
      required: true,
      content: { "*/*": { schema: z.string().openapi({ format: "binary" }) } },
    },
  },
  responses: {
    201: {
      description: "Stored; processing continues asynchronously (`status` is `pending`).",
      headers: z.object({
        Location: z.string().openapi({ example: "/documents/0b9a1c1e-4f0e-4a6b-9a57-2f4c4d3e5b6a" }),
      }),
      content: { "application/json": { schema: DocumentSchema } },
    },
    ...problemResponses(400, 411, 413, 503),
  },
});

const getOne = createRoute({
  method: "get",
  path: "/documents/{id}",
  tags: ["Documents"],
  summary: "A document's metadata and processing status",
  request: { params: DocumentIdParams },
  responses: {
    200: { description: "The document.", content: { "application/json": { schema: DocumentSchema } } },
    ...problemResponses(400, 404, 503),
  },
});

export const documentsRouter = createRouter()
  .openapi(upload, async (c) => {
    const { title } = c.req.valid("query");
    const { "content-type": contentType, "content-length": declaredLength } = c.req.valid("header");
    const { config, storage, database, events } = c.get("services");
    const body = c.req.raw.body;

    if (declaredLength === undefined) throw new ApiError("length_required");
    const contentLength = Number(declaredLength);
    if (contentLength > config.uploads.maxBytes) {
      throw new ApiError("payload_too_large", { detail: `The limit is ${config.uploads.maxBytes} bytes.` });
    }
    if (!body || contentLength === 0) {
      throw new ApiError("validation_failed", {
        detail: "body: the file is empty",
        errors: [{ in: "body", pointer: "", message: "the file is empty" }],
      });
    }

    const id = crypto.randomUUID();
    const storageKey = `documents/${id}/v1`;
    const hash = hashingStream();
    await storage.put(storageKey, body.pipeThrough(hash.stream), { contentLength, contentType });
    const { sha256 } = await hash.result;

    let row: Awaited<ReturnType<typeof insertDocument>>;
    try {
      row = await database.db.transaction(async (tx) => {
        const inserted = await insertDocument(tx, {
          id,
          title,
          contentType,
          sizeBytes: contentLength,
          sha256,
          storageKey,
        });
        await events.publish({ type: "document.uploaded", version: 1, documentId: id, requestId: c.get("requestId") });
        return inserted;
      });
    } catch (error) {
      // The object went up but the row or event did not: take the object back down.
      await storage
        .delete(storageKey)
        .catch((cleanup: unknown) =>
          c.get("logger").error("orphaned object after failed upload", { storageKey, error: cleanup }),
        );
      throw error;
    }

    return c.json(toDocumentJson(row), 201, { Location: `/documents/${id}` });
  })
  .openapi(getOne, async (c) => {
    const { id } = c.req.valid("param");
    const row = await getDocument(c.get("services").database.db, { id });
    if (!row) throw new ApiError("not_found", { detail: `No document ${id}.` });
    return c.json(toDocumentJson(row), 200);
  });
