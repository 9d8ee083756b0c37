import { sql } from "drizzle-orm";
import { bigint, char, check, index, pgTable, text, timestamp, uuid, varchar } from "drizzle-orm/pg-core";
import { timestamps } from "./columns.ts";

/** Where a document is in the pipeline `Upload → Validation → Virus Scan → Store → Index → Thumbnail → Notify`. */
export const DOCUMENT_STATUSES = ["pending", "scanning", "processing", "ready", "quarantined", "failed"] as const;
export type DocumentStatus = (typeof DOCUMENT_STATUSES)[number];

export const documents = pgTable(
  "documents",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    // The users table arrives with the auth issue; until then uploads are anonymous.
    ownerId: uuid("owner_id"),
    title: varchar("title", { length: 255 }).notNull(),
    contentType: varchar("content_type", { length: 255 }).notNull(),
    sizeBytes: bigint("size_bytes", { mode: "number" }).notNull(),
    sha256: char("sha256", { length: 64 }).notNull(),
    storageKey: text("storage_key").notNull(),
    status: text("status").$type<DocumentStatus>().notNull().default("pending"),
    failureReason: text("failure_reason"),
    processedAt: timestamp("processed_at", { withTimezone: true }),
    ...timestamps,
  },
  (table) => [
    check(
      "documents_status_check",
      sql.raw(`${table.status.name} in (${DOCUMENT_STATUSES.map((s) => `'${s}'`).join(", ")})`),
    ),
    check("documents_size_check", sql`${table.sizeBytes} >= 0`),
    index("documents_owner_created_idx").on(table.ownerId, table.createdAt),
  ],
);

export type Document = typeof documents.$inferSelect;
export type NewDocument = typeof documents.$inferInsert;
