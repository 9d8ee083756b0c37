import { z } from "@hono/zod-openapi";
import { DOCUMENT_STATUSES, type Document } from "../../db/schema/documents.ts";

export const DocumentSchema = z
  .object({
    id: z.uuid(),
    title: z.string().openapi({ example: "Q3 report" }),
    contentType: z.string().openapi({ example: "application/pdf" }),
    sizeBytes: z.number().int().openapi({ example: 48213 }),
    sha256: z.string().openapi({ example: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" }),
    status: z.enum(DOCUMENT_STATUSES),
    failureReason: z.string().nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    processedAt: z.iso.datetime().nullable(),
  })
  .openapi("Document");

export const DocumentIdParams = z.object({
  id: z.uuid().openapi({ param: { name: "id", in: "path" }, example: "0b9a1c1e-4f0e-4a6b-9a57-2f4c4d3e5b6a" }),
});

export const UploadQuery = z.object({
  title: z
    .string()
    .trim()
    .min(1)
    .max(255)
    .openapi({ param: { name: "title", in: "query" }, example: "Q3 report" }),
});

export const UploadHeaders = z.object({
  "content-type": z
    .string()
    .min(1)
    .max(255)
    .openapi({ param: { name: "content-type", in: "header" }, example: "application/pdf" }),
  // Absent is answered 411 by the handler, so it is optional here.
  "content-length": z
    .string()
    .regex(/^\d+$/, "must be a byte count")
    .optional()
    .openapi({ param: { name: "content-length", in: "header" }, example: "48213" }),
});

export function toDocumentJson(row: Document): z.infer<typeof DocumentSchema> {
  return {
    id: row.id,
    title: row.title,
    contentType: row.contentType,
    sizeBytes: row.sizeBytes,
    sha256: row.sha256,
    status: row.status,
    failureReason: row.failureReason,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    processedAt: row.processedAt?.toISOString() ?? null,
  };
}
