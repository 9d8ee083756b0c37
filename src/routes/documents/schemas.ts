import { z } from "@hono/zod-openapi";
import type { Document, DocumentVersion } from "../../db/schema/documents.ts";
import { DOCUMENT_STATUSES, SCAN_RESULTS, SHARE_ACCESS } from "../../db/schema/documents.ts";
import { ALLOWED_TYPE_NAMES } from "../../documents/content-types.ts";
import { FAILURE_REASONS, FAILURE_REASONS_DESCRIPTION } from "../../documents/failure-reasons.ts";
import type { Share } from "../../documents/shares.ts";
import { instant, int4, NON_BLANK_TEXT_PATTERN, nonBlankText, text, uuid } from "../fields.ts";
import { PageQuery } from "../pagination.ts";

const uuidParam = (name: string, where: "path" | "query" = "path") => uuid().openapi({ param: { name, in: where } });

export const DocumentSchema = z
  .object({
    id: z.uuid(),
    ownerId: z.uuid().openapi({ description: "Who uploaded it; for a personal document also whom it belongs to." }),
    projectId: z
      .uuid()
      .nullable()
      .openapi({ description: "The project it is filed in (its members' roles decide access), or null: personal." }),
    title: z.string().openapi({ example: "Q3 report" }),
    tags: z.array(z.string()).openapi({ example: ["finance", "2026"] }),
    contentType: z.string().openapi({ example: "application/pdf" }),
    sizeBytes: z.number().int().openapi({ example: 48213 }),
    sha256: z.string().openapi({ example: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" }),
    currentVersion: z.number().int().openapi({ example: 1 }),
    status: z.enum(DOCUMENT_STATUSES),
    scanResult: z.enum(SCAN_RESULTS).nullable().openapi({ description: "`skipped` when scanning was switched off." }),
    failureReason: z.enum(FAILURE_REASONS).nullable().openapi({ description: FAILURE_REASONS_DESCRIPTION }),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    processedAt: z.iso.datetime().nullable(),
  })
  .openapi("Document");

export const VersionSchema = z
  .object({
    version: z.number().int(),
    contentType: z.string(),
    sizeBytes: z.number().int(),
    sha256: z.string(),
    filename: z.string().nullable(),
    createdBy: z.uuid().nullable(),
    restoredFrom: z.number().int().nullable(),
    status: z.enum(DOCUMENT_STATUSES),
    scanResult: z.enum(SCAN_RESULTS).nullable(),
    failureReason: z.enum(FAILURE_REASONS).nullable().openapi({ description: FAILURE_REASONS_DESCRIPTION }),
    failureDetail: z.string().nullable().optional().openapi({
      description:
        "Administrators only: what happened, for operators (a parser's message, a dependency's error). Absent for everyone else.",
    }),
    hasThumbnail: z.boolean(),
    createdAt: z.iso.datetime(),
    processedAt: z.iso.datetime().nullable(),
  })
  .openapi("DocumentVersion");

export const ShareSchema = z
  .object({
    userId: z.uuid(),
    username: z.string(),
    access: z.enum(SHARE_ACCESS),
    createdAt: z.iso.datetime(),
  })
  .openapi("DocumentShare");

export const DocumentIdParams = z.object({ id: uuidParam("id") });
export const VersionParams = z.object({
  id: uuidParam("id"),
  version: int4().openapi({ param: { name: "version", in: "path" } }),
});
export const ShareParams = z.object({ id: uuidParam("id"), userId: uuidParam("userId") });

const TAG = /^[\p{L}\p{N}][\p{L}\p{N} _.-]{0,49}$/u;
const MAX_TAGS = 20;

/**
 * Tags as the document states them: each (trimmed) a letter or digit then up to 49 letters,
 * digits, spaces, dots, dashes or underscores, empty items ignored; a text holds at most MAX_TAGS
 * comma-separated items, a list at most MAX_TAGS items of one tag each. Whatever matches is
 * accepted; validation also takes a list of comma-separated texts, up to MAX_TAGS tags in all,
 * which a pattern cannot count.
 */
const TAG_ITEM = "\\s*(?:[\\p{L}\\p{N}][\\p{L}\\p{N} _.-]{0,49}\\s*)?";
export const TAG_LIST_PATTERN = `^${TAG_ITEM}(?:,${TAG_ITEM}){0,${MAX_TAGS - 1}}$`;
const TAG_LIST = new RegExp(TAG_LIST_PATTERN, "u");
const TAGS_DESCRIPTION = `Comma-separated tags (at most ${MAX_TAGS}, counted after splitting): each a letter or digit, then up to 49 letters, digits, spaces, dots, dashes or underscores; stored trimmed and lower-cased, once each.`;

/** Tags as given (a list, or comma-separated strings): trimmed, lower-cased, unique, at most 20. */
export const TagsSchema = z
  .union([z.array(z.string()), z.string()])
  .transform((value) =>
    (Array.isArray(value) ? value : [value])
      .flatMap((item) => item.split(","))
      .map((tag) => tag.trim().toLowerCase())
      .filter((tag) => tag !== ""),
  )
  .pipe(
    z.array(z.string().regex(TAG, "a tag is 1-50 letters, digits, spaces, dots, dashes or underscores")).max(MAX_TAGS),
  )
  .transform((tags) => [...new Set(tags)])
  .openapi({
    anyOf: [
      { type: "array", items: { type: "string", pattern: `^${TAG_ITEM}$` }, maxItems: MAX_TAGS },
      { type: "string", pattern: TAG_LIST_PATTERN },
    ],
    description: TAGS_DESCRIPTION,
    example: ["finance", "2026"],
  });

export const TitleSchema = nonBlankText().trim().min(1).max(255).openapi({ example: "Q3 report" });

/** Title and tags of an upload, from form fields or query parameters. */
export const UploadFieldsSchema = z.object({ title: TitleSchema.optional(), tags: TagsSchema.optional() });

export const UploadQuery = z.object({
  projectId: uuidParam("projectId", "query").optional().openapi({
    description:
      "File the document in this project (editors, admins and owners; not while archived). In the query, not the form, so that access is checked before any byte is stored.",
  }),
  title: TitleSchema.optional().openapi({ param: { name: "title", in: "query" } }),
  tags: z
    .string()
    .max(1100)
    // A refinement, not .regex(): the document generator writes a flagged regex as "…$/u".
    .refine((value) => TAG_LIST.test(value), `comma-separated tags, at most ${MAX_TAGS}`)
    .optional()
    .openapi({ param: { name: "tags", in: "query" }, pattern: TAG_LIST_PATTERN, description: TAGS_DESCRIPTION }),
});

export const MoveDocumentSchema = z
  .strictObject({
    projectId: uuid()
      .nullable()
      .openapi({ description: "The project to move it to, or null: the caller's personal documents." }),
  })
  .openapi("DocumentMove");

export const UpdateDocumentSchema = z
  .strictObject({ title: TitleSchema.optional(), tags: TagsSchema.optional() })
  .refine((body) => body.title !== undefined || body.tags !== undefined, { message: "give title or tags" })
  .openapi("DocumentUpdate", { minProperties: 1 });

export const ListDocumentsQuery = PageQuery.extend({
  tag: nonBlankText()
    .trim()
    .toLowerCase()
    .min(1)
    .max(50)
    .optional()
    .openapi({ param: { name: "tag", in: "query" } }),
  type: text()
    .max(255)
    .optional()
    .openapi({ param: { name: "type", in: "query" }, description: "Content type." }),
  status: z
    .enum(DOCUMENT_STATUSES)
    .optional()
    .openapi({ param: { name: "status", in: "query" } }),
  owner: uuidParam("owner", "query").optional(),
  project: z
    .union([uuid(), z.literal("none")])
    .optional()
    .openapi({
      param: { name: "project", in: "query" },
      description: "A project's documents only, or `none`: personal documents only.",
    }),
  createdFrom: instant()
    .optional()
    .openapi({ param: { name: "createdFrom", in: "query" }, description: "Created at or after (inclusive)." }),
  createdTo: instant()
    .optional()
    .openapi({ param: { name: "createdTo", in: "query" }, description: "Created before (exclusive)." }),
});

export const DocumentPageSchema = z
  .object({ data: z.array(DocumentSchema), nextCursor: z.string().nullable() })
  .openapi("DocumentPage");

export const DeletedDocumentSchema = DocumentSchema.extend({
  deletedAt: z.iso.datetime().openapi({ description: "When it was deleted." }),
  purgeAt: z.iso.datetime().openapi({
    description: "When its grace ends: from then on it cannot be restored, and the sweeper removes it with its files.",
  }),
}).openapi("DeletedDocument");

export const DeletedDocumentPageSchema = z
  .object({ data: z.array(DeletedDocumentSchema), nextCursor: z.string().nullable() })
  .openapi("DeletedDocumentPage");

/** `?version=n`: a version other than the current one. */
export const VersionQuery = z.object({
  version: int4()
    .optional()
    .openapi({ param: { name: "version", in: "query" }, description: "Defaults to the current version." }),
});

export const ContentQuery = VersionQuery.extend({
  format: z
    .enum(["original", "html", "webp", "png"])
    .default("original")
    .openapi({
      param: { name: "format", in: "query" },
      description:
        "`html` converts Markdown; `webp` and `png` convert images. A conversion the stored type does not offer is refused (400).",
    }),
  disposition: z
    .enum(["attachment", "inline"])
    .default("attachment")
    .openapi({
      param: { name: "disposition", in: "query" },
      description: "`inline` for images, PDF and plain text only; HTML always downloads.",
    }),
});

export const ShareRequestSchema = z
  .strictObject({
    user: nonBlankText().trim().min(1).max(255).openapi({
      description:
        "The email address or username to share with. Whether it names an account is not disclosed: the answer is the same either way.",
    }),
    access: z.enum(SHARE_ACCESS),
  })
  .openapi("ShareRequest");

/** The answer to a share request: only what was asked, identical for known and unknown logins. */
export const ShareAcceptedSchema = z
  .object({
    user: z.string().openapi({ description: "The email address or username as sent (trimmed)." }),
    access: z.enum(SHARE_ACCESS),
  })
  .openapi("ShareAccepted");

const UploadBodyDocumentation = {
  type: "object" as const,
  required: ["file"],
  properties: {
    file: {
      type: "string" as const,
      format: "binary",
      minLength: 1,
      description: `Not empty. One of: ${ALLOWED_TYPE_NAMES.join(", ")}.`,
    },
    title: {
      type: "string" as const,
      minLength: 1,
      maxLength: 255,
      pattern: NON_BLANK_TEXT_PATTERN,
      description: "Defaults to the file name.",
    },
    tags: {
      type: "string" as const,
      pattern: TAG_LIST_PATTERN,
      description: `${TAGS_DESCRIPTION} The field may repeat.`,
    },
  },
};

/**
 * The request body of an upload and of a new version, for the OpenAPI document (the route reads
 * the stream itself: src/documents/receive.ts).
 */
export const UploadBody = {
  required: true,
  description:
    "`multipart/form-data` with a `file` part (and `title`, `tags` fields in any order), or the file itself as the body with its own Content-Type (title and tags in the query). The declared type must be allowed and agree with the file's first bytes.",
  content: {
    "multipart/form-data": { schema: UploadBodyDocumentation },
    "*/*": { schema: z.string().min(1).openapi({ format: "binary", description: "The file itself; not empty." }) },
  },
};

export function toDocumentJson(row: Document): z.infer<typeof DocumentSchema> {
  return {
    id: row.id,
    ownerId: row.ownerId,
    projectId: row.projectId,
    title: row.title,
    tags: row.tags,
    contentType: row.contentType,
    sizeBytes: row.sizeBytes,
    sha256: row.sha256,
    currentVersion: row.currentVersion,
    status: row.status,
    scanResult: row.scanResult,
    failureReason: row.failureReason,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    processedAt: row.processedAt?.toISOString() ?? null,
  };
}

/** A share as the API shows it (and as its list's ETag is computed: keep the members' order). */
export function toShareJson(row: Share): z.infer<typeof ShareSchema> {
  return { ...row, createdAt: row.createdAt.toISOString() };
}

/** A version as the API shows it; `failureDetail` only when `detail` (the caller is an administrator). */
export function toVersionJson(row: DocumentVersion, options: { detail: boolean }): z.infer<typeof VersionSchema> {
  return {
    version: row.version,
    contentType: row.contentType,
    sizeBytes: row.sizeBytes,
    sha256: row.sha256,
    filename: row.filename,
    createdBy: row.createdBy,
    restoredFrom: row.restoredFrom,
    status: row.status,
    scanResult: row.scanResult,
    failureReason: row.failureReason,
    ...(options.detail ? { failureDetail: row.failureDetail } : {}),
    hasThumbnail: row.thumbnailKey !== null,
    createdAt: row.createdAt.toISOString(),
    processedAt: row.processedAt?.toISOString() ?? null,
  };
}
