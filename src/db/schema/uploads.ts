import { sql } from "drizzle-orm";
import {
  bigint,
  char,
  check,
  index,
  integer,
  pgPolicy,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
  varchar,
} from "drizzle-orm/pg-core";
import { timestamps } from "./columns.ts";
import { projects } from "./projects.ts";
import { actorId } from "./rls.ts";
import { users } from "./users.ts";

/**
 * Where a resumable upload is: `open` takes parts; `completing` while one request assembles the
 * object and records the document (no part is accepted then, and no second completion starts);
 * `completed` once the document is recorded (`document_id`).
 */
export const UPLOAD_STATUSES = ["open", "completing", "completed"] as const;
export type UploadStatus = (typeof UPLOAD_STATUSES)[number];

const inList = (values: readonly string[]) => values.map((v) => `'${v}'`).join(", ");

/**
 * A resumable upload: an S3 multipart upload driven through the API, part by part, by its owner.
 * The declared file (type, size, SHA-256) is fixed at creation; the document is recorded from it on
 * completion, and the processor checks the stored object against the declared SHA-256.
 */
export const uploads = pgTable(
  "uploads",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    ownerId: uuid("owner_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /**
     * The project the document is filed in on completion, or null for a personal document. Its
     * quota holds the declared bytes meanwhile. Gone with the project when it is purged.
     */
    projectId: uuid("project_id").references(() => projects.id, { onDelete: "cascade" }),
    /** The document the upload becomes (its id is chosen at creation: the object's key names it). */
    documentId: uuid("document_id").notNull(),
    storageKey: text("storage_key").notNull().unique(),
    /** The store's `UploadId` of the multipart upload. */
    multipartUploadId: text("multipart_upload_id").notNull(),
    filename: varchar("filename", { length: 255 }),
    contentType: varchar("content_type", { length: 255 }).notNull(),
    sizeBytes: bigint("size_bytes", { mode: "number" }).notNull(),
    sha256: char("sha256", { length: 64 }).notNull(),
    title: varchar("title", { length: 255 }).notNull(),
    tags: text("tags").array().notNull().default([]),
    /** Every part but the last has exactly this many bytes; the last the remainder. */
    partBytes: integer("part_bytes").notNull(),
    partCount: integer("part_count").notNull(),
    status: text("status").$type<UploadStatus>().notNull().default("open"),
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
    completedAt: timestamp("completed_at", { withTimezone: true }),
    ...timestamps,
  },
  (t) => [
    check("uploads_status_check", sql.raw(`status in (${inList(UPLOAD_STATUSES)})`)),
    check("uploads_size_check", sql`${t.sizeBytes} > 0`),
    check("uploads_parts_check", sql`${t.partBytes} > 0 and ${t.partCount} between 1 and 10000`),
    index("uploads_owner_idx").on(t.ownerId),
    index("uploads_project_idx").on(t.projectId).where(sql`${t.projectId} is not null`),
    index("uploads_expires_idx").on(t.status, t.expiresAt),
    // The owner's only (and the system's: the sweeper); admins have no business in a transfer.
    pgPolicy("uploads_owner", {
      for: "all",
      using: sql`${t.ownerId} = ${actorId} or current_setting('app.role', true) = 'system'`,
      withCheck: sql`${t.ownerId} = ${actorId} or current_setting('app.role', true) = 'system'`,
    }),
  ],
).enableRLS();

const parentUpload = sql.raw("exists (select 1 from uploads u where u.id = upload_id)");

/**
 * A part received and stored (UploadPart): its size, the store's ETag (needed to complete) and its
 * SHA-256; for text, the bytes of a UTF-8 sequence cut at its edges (hex, at most 3 bytes each),
 * joined with the neighbour's at completion. A part sent again replaces its row.
 */
export const uploadParts = pgTable(
  "upload_parts",
  {
    uploadId: uuid("upload_id")
      .notNull()
      .references(() => uploads.id, { onDelete: "cascade" }),
    partNumber: integer("part_number").notNull(),
    sizeBytes: integer("size_bytes").notNull(),
    etag: text("etag").notNull(),
    sha256: char("sha256", { length: 64 }).notNull(),
    leadingBytes: varchar("leading_bytes", { length: 6 }).notNull().default(""),
    trailingBytes: varchar("trailing_bytes", { length: 6 }).notNull().default(""),
    ...timestamps,
  },
  (t) => [
    primaryKey({ columns: [t.uploadId, t.partNumber] }),
    check("upload_parts_number_check", sql`${t.partNumber} between 1 and 10000`),
    pgPolicy("upload_parts_owner", { for: "all", using: parentUpload, withCheck: parentUpload }),
  ],
).enableRLS();

export type Upload = typeof uploads.$inferSelect;
export type UploadPart = typeof uploadParts.$inferSelect;
export type NewUploadPart = typeof uploadParts.$inferInsert;
