import { z } from "@hono/zod-openapi";
import { UPLOAD_STATUSES, type Upload, type UploadPart } from "../../db/schema/uploads.ts";
import { ALLOWED_TYPE_NAMES } from "../../documents/content-types.ts";
import { MAX_PARTS } from "../../documents/resumable.ts";
import { integerParam, nonBlankText, text, uuid } from "../fields.ts";

const MAX_SAFE_BYTES = Number.MAX_SAFE_INTEGER;
const TAG = /^[\p{L}\p{N}][\p{L}\p{N} _.-]{0,49}$/u;

export const UploadIdParams = z.object({ id: uuid().openapi({ param: { name: "id", in: "path" } }) });

export const PartParams = UploadIdParams.extend({
  partNumber: integerParam(1, MAX_PARTS).openapi({
    param: { name: "partNumber", in: "path" },
    description: `1 to the upload's \`partCount\` (at most ${MAX_PARTS}).`,
  }),
});

export const CreateUploadSchema = z
  .strictObject({
    filename: text().min(1).max(255).optional().openapi({ example: "survey.pdf" }),
    contentType: text()
      .min(1)
      .max(255)
      .openapi({
        example: "application/pdf",
        description: `The file's media type; one of ${ALLOWED_TYPE_NAMES.join(", ")} (else 415). Text is stored as UTF-8: under a \`charset\` other than utf-8 (or us-ascii) only ASCII bytes are accepted, as for \`POST /documents\`.`,
      }),
    size: z.number().int().min(1).max(MAX_SAFE_BYTES).openapi({
      example: 104857600,
      description: "The whole file's length in bytes (at most MAX_UPLOAD_BYTES, else 413).",
    }),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .openapi({
        description:
          "The whole file's SHA-256, 64 lower-case hex digits. Parts arrive separately, so the API cannot hash the file; the processor checks the stored object against it and fails the version on a mismatch.",
        example: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
      }),
    projectId: uuid().optional().openapi({
      description:
        "File the document in this project on completion (editors, admins and owners; not while archived). Its quota (`PROJECT_QUOTA_BYTES`, 413) holds the declared size meanwhile.",
    }),
    title: nonBlankText().trim().min(1).max(255).optional().openapi({ example: "Q3 report" }),
    tags: z
      .array(z.string().trim().toLowerCase().regex(TAG))
      .max(20)
      .optional()
      .transform((tags) => (tags ? [...new Set(tags)] : undefined))
      .openapi({ example: ["finance", "2026"] }),
  })
  .openapi("UploadCreation");

export const UploadPartSchema = z
  .object({
    partNumber: z.number().int(),
    sizeBytes: z.number().int(),
    sha256: z.string().openapi({ description: "The part's SHA-256, hex." }),
  })
  .openapi("UploadPart");

export const UploadSchema = z
  .object({
    id: z.uuid(),
    status: z.enum(UPLOAD_STATUSES),
    filename: z.string().nullable(),
    contentType: z.string(),
    sizeBytes: z.number().int(),
    sha256: z.string(),
    title: z.string(),
    tags: z.array(z.string()),
    partBytes: z.number().int().openapi({ description: "Bytes of every part but the last (the last: the remainder)." }),
    partCount: z.number().int(),
    partUrlTemplate: z.string().openapi({ example: "/uploads/5f0c…/parts/{partNumber}" }),
    documentId: z.uuid().nullable().openapi({ description: "The document, once completed." }),
    projectId: z.uuid().nullable().openapi({ description: "The project the document is filed in, or null." }),
    expiresAt: z.iso.datetime().openapi({ description: "Past this an upload not completed is aborted." }),
    createdAt: z.iso.datetime(),
    completedAt: z.iso.datetime().nullable(),
    parts: z.array(UploadPartSchema).openapi({ description: "The parts received, by number." }),
  })
  .openapi("Upload");

export function toUploadJson(
  upload: Upload,
  parts: readonly Pick<UploadPart, "partNumber" | "sizeBytes" | "sha256">[],
) {
  return {
    id: upload.id,
    status: upload.status,
    filename: upload.filename,
    contentType: upload.contentType,
    sizeBytes: upload.sizeBytes,
    sha256: upload.sha256,
    title: upload.title,
    tags: upload.tags,
    partBytes: upload.partBytes,
    partCount: upload.partCount,
    partUrlTemplate: `/uploads/${upload.id}/parts/{partNumber}`,
    documentId: upload.status === "completed" ? upload.documentId : null,
    projectId: upload.projectId,
    expiresAt: upload.expiresAt.toISOString(),
    createdAt: upload.createdAt.toISOString(),
    completedAt: upload.completedAt?.toISOString() ?? null,
    parts: parts.map((part) => ({ partNumber: part.partNumber, sizeBytes: part.sizeBytes, sha256: part.sha256 })),
  } satisfies z.infer<typeof UploadSchema>;
}

/** An unfinished upload in `GET /uploads`: the upload without its parts, and how much has arrived. */
export const UploadSummarySchema = UploadSchema.omit({ parts: true })
  .extend({
    partsReceived: z.number().int().openapi({ description: "Parts received so far (of `partCount`)." }),
    bytesReceived: z.number().int().openapi({ description: "Their bytes (of `sizeBytes`)." }),
  })
  .openapi("UploadSummary");

export const UploadPageSchema = z
  .object({ data: z.array(UploadSummarySchema), nextCursor: z.string().nullable() })
  .openapi("UploadPage");

export function toUploadSummaryJson(upload: Upload, received: { parts: number; bytes: number }) {
  const { parts: _, ...summary } = toUploadJson(upload, []);
  return {
    ...summary,
    partsReceived: received.parts,
    bytesReceived: received.bytes,
  } satisfies z.infer<typeof UploadSummarySchema>;
}

export const PartBody = {
  required: true,
  description:
    "The part's bytes, exactly `partBytes` of them (the last part: the remainder), as `application/octet-stream`.",
  content: {
    "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) },
  },
};

export const PartHeaders = z.object({
  "content-digest": z
    .string()
    .max(1000)
    .optional()
    .openapi({
      param: { name: "content-digest", in: "header" },
      description: "RFC 9530: `sha-256=:<base64>:`; checked against the part (400 when it differs).",
    }),
});
