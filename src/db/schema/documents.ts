import { type SQLWrapper, sql } from "drizzle-orm";
import {
  bigint,
  boolean,
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
import { actorId, isStaff, keyProject, staffOr } from "./rls.ts";
import { users } from "./users.ts";

/** Where a version is in the pipeline `Upload → Validation → Virus Scan → Store → Index → Thumbnail → Notify`. */
export const DOCUMENT_STATUSES = ["pending", "scanning", "processing", "ready", "quarantined", "failed"] as const;
export type DocumentStatus = (typeof DOCUMENT_STATUSES)[number];
/** Statuses a version passes through; one that stays in them too long is failed by the sweeper. */
export const TRANSIENT_STATUSES = ["pending", "scanning", "processing"] as const satisfies readonly DocumentStatus[];

/** `skipped`: scanning was switched off by configuration when this version was processed. */
export const SCAN_RESULTS = ["clean", "infected", "skipped"] as const;
export type ScanResult = (typeof SCAN_RESULTS)[number];

/**
 * Why a version failed or was quarantined, as its owner sees it: a closed set of stable codes
 * (their meanings: `src/documents/failure-reasons.ts`). What happened exactly is the operator's
 * `failure_detail`, never shown to users (OWASP API8:2023).
 */
export const FAILURE_REASONS = [
  "malware_detected",
  "file_too_large",
  "file_too_complex",
  "unsupported_content",
  "processing_failed",
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

export const SHARE_ACCESS = ["read", "write"] as const;
export type ShareAccess = (typeof SHARE_ACCESS)[number];

const inList = (values: readonly string[]) => values.map((v) => `'${v}'`).join(", ");

// Raw SQL because the tables refer to each other: a document is visible to its owner, staff,
// holders of documents:read, and users it is shared with.
// A write share of a project's document writes only while the project is not archived.
const shared = (access: "any" | "write") =>
  sql.raw(
    `exists (select 1 from document_shares s where s.document_id = documents.id and s.user_id = nullif(current_setting('app.user_id', true), '')::uuid${
      access === "write"
        ? " and s.access = 'write' and (documents.project_id is null or not project_archived(documents.project_id))"
        : ""
    })`,
  );
/**
 * Personal documents belong to their owner; a project's documents to its members, by role
 * (`project_allows`, migration 0025): the uploader of a project document has no rights of its own
 * in it, so a member who leaves loses access to what they uploaded.
 */
const personalOf = (alias: string) =>
  `(${alias}.project_id is null and ${alias}.owner_id = nullif(current_setting('app.user_id', true), '')::uuid)`;
const inProject = (alias: string, need: "read" | "write" | "manage") =>
  `(${alias}.project_id is not null and project_allows(${alias}.project_id, '${need}'))`;

const parentVisible = sql.raw("exists (select 1 from documents d where d.id = document_id)");
/** The parent document is writable by the actor: the rule of `documents_update`, for child tables. */
export const parentWritable = sql.raw(
  `exists (select 1 from documents d where d.id = document_id and (${personalOf("d")} or current_setting('app.role', true) in ('admin', 'system') or ${inProject("d", "write")} or (exists (select 1 from document_shares s where s.document_id = d.id and s.user_id = nullif(current_setting('app.user_id', true), '')::uuid and s.access = 'write') and (d.project_id is null or not project_archived(d.project_id)))))`,
);

/**
 * A document: owner, title and tags, plus the state of its current version (copied from
 * `document_versions` when that version changes, so that lists and filters need no join).
 * Deleting is soft (`deleted_at`): the row and its objects stay restorable for a grace
 * (src/documents/retention.ts), then the sweeper removes them together.
 */
export const documents = pgTable(
  "documents",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    /** Who uploaded it; for a personal document (no project) also whom it belongs to. */
    ownerId: uuid("owner_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** The project it is filed in, or null for a personal document. */
    projectId: uuid("project_id").references(() => projects.id),
    title: varchar("title", { length: 255 }).notNull(),
    tags: text("tags").array().notNull().default([]),
    currentVersion: integer("current_version").notNull().default(1),
    contentType: varchar("content_type", { length: 255 }).notNull(),
    sizeBytes: bigint("size_bytes", { mode: "number" }).notNull(),
    sha256: char("sha256", { length: 64 }).notNull(),
    status: text("status").$type<DocumentStatus>().notNull().default("pending"),
    failureReason: text("failure_reason").$type<FailureReason>(),
    scanResult: text("scan_result").$type<ScanResult>(),
    processedAt: timestamp("processed_at", { withTimezone: true }),
    deletedAt: timestamp("deleted_at", { withTimezone: true }),
    ...timestamps,
  },
  (t) => [
    check("documents_status_check", sql.raw(`status in (${inList(DOCUMENT_STATUSES)})`)),
    check("documents_scan_result_check", sql.raw(`scan_result in (${inList(SCAN_RESULTS)})`)),
    check("documents_failure_reason_check", sql.raw(`failure_reason in (${inList(FAILURE_REASONS)})`)),
    check("documents_size_check", sql`${t.sizeBytes} >= 0`),
    index("documents_owner_created_idx").on(t.ownerId, t.createdAt.desc(), t.id.desc()),
    index("documents_created_idx").on(t.createdAt.desc(), t.id.desc()),
    index("documents_tags_idx").using("gin", t.tags),
    // The trash (most recently deleted first) and the sweeper's purge read deleted rows only.
    index("documents_deleted_idx").on(t.deletedAt.desc(), t.id.desc()).where(sql`${t.deletedAt} is not null`),
    index("documents_project_created_idx")
      .on(t.projectId, t.createdAt.desc(), t.id.desc())
      .where(sql`${t.projectId} is not null`),
    pgPolicy("documents_read", {
      for: "select",
      using: sql.join(
        [
          sql.raw(personalOf("documents")),
          staffOr("documents:read"),
          shared("any"),
          sql.raw(inProject("documents", "read")),
        ],
        sql` or `,
      ),
    }),
    pgPolicy("documents_insert", {
      for: "insert",
      withCheck: sql`${isStaff} or (${t.ownerId} = ${actorId} and (${t.projectId} is null or project_allows(${t.projectId}, 'write')))`,
    }),
    // Editing. Moving a document to another project, or deleting it (soft: `deleted_at`), is also
    // an update; the trigger documents_guard (migration 0025) lets only its managers do those.
    pgPolicy("documents_update", {
      for: "update",
      using: sql.join(
        [sql.raw(personalOf("documents")), isStaff, shared("write"), sql.raw(inProject("documents", "write"))],
        sql` or `,
      ),
      withCheck: sql.join(
        [sql.raw(personalOf("documents")), isStaff, shared("write"), sql.raw(inProject("documents", "write"))],
        sql` or `,
      ),
    }),
    pgPolicy("documents_delete", {
      for: "delete",
      using: sql.join(
        [sql.raw(personalOf("documents")), isStaff, sql.raw(inProject("documents", "manage"))],
        sql` or `,
      ),
    }),
    // An API key bound to a project (src/auth/api-keys.ts) reaches that project's documents and
    // no others, whatever its owner may reach otherwise: restrictive, so it narrows each policy
    // above (and, through them, versions, content and shares). Always true for everyone else.
    pgPolicy("documents_key_project", {
      as: "restrictive",
      for: "all",
      using: sql`${keyProject} is null or ${t.projectId} = ${keyProject}`,
      withCheck: sql`${keyProject} is null or ${t.projectId} = ${keyProject}`,
    }),
  ],
).enableRLS();

/** Every upload of a document; each version's object is written once and never changed. */
export const documentVersions = pgTable(
  "document_versions",
  {
    documentId: uuid("document_id")
      .notNull()
      .references(() => documents.id, { onDelete: "cascade" }),
    version: integer("version").notNull(),
    storageKey: text("storage_key").notNull(),
    contentType: varchar("content_type", { length: 255 }).notNull(),
    sizeBytes: bigint("size_bytes", { mode: "number" }).notNull(),
    sha256: char("sha256", { length: 64 }).notNull(),
    filename: varchar("filename", { length: 255 }),
    createdBy: uuid("created_by").references(() => users.id, { onDelete: "set null" }),
    /** Set when this version was made by restoring an older one. */
    restoredFrom: integer("restored_from"),
    status: text("status").$type<DocumentStatus>().notNull().default("pending"),
    failureReason: text("failure_reason").$type<FailureReason>(),
    /**
     * For operators only (logs, administrators): what happened exactly when the version failed
     * (a parser's message, a dependency's error), or the last transient error while it is retried.
     */
    failureDetail: text("failure_detail"),
    /**
     * Starts of text extraction and thumbnailing since the last orderly ending: more than one means
     * the runtime ended the isolate during them (CPU or memory limit); see `startExtractions`.
     */
    extractionStarts: integer("extraction_starts").notNull().default(0),
    scanResult: text("scan_result").$type<ScanResult>(),
    thumbnailKey: text("thumbnail_key"),
    processedAt: timestamp("processed_at", { withTimezone: true }),
    ...timestamps,
  },
  (t) => [
    primaryKey({ columns: [t.documentId, t.version] }),
    check("document_versions_status_check", sql.raw(`status in (${inList(DOCUMENT_STATUSES)})`)),
    check("document_versions_scan_result_check", sql.raw(`scan_result in (${inList(SCAN_RESULTS)})`)),
    check("document_versions_failure_reason_check", sql.raw(`failure_reason in (${inList(FAILURE_REASONS)})`)),
    index("document_versions_status_idx").on(t.status, t.updatedAt),
    // Versions by object: the upload intents' policies (recordedByVersion) look a key up on every
    // upload, and restores and the sweeper ask whether an object is still referenced. Without it
    // each lookup read every version in the database.
    index("document_versions_storage_key_idx").on(t.storageKey),
    pgPolicy("document_versions_read", { for: "select", using: parentVisible }),
    pgPolicy("document_versions_write", { for: "all", using: parentWritable, withCheck: parentWritable }),
  ],
).enableRLS();

/**
 * Whether the acting user manages the document `documentId` names (owns a personal document, or
 * is an owner or admin of its project), for the share policies. Read from
 * the document's search index row, not from `documents`: `documents`' read policy reads shares,
 * and PostgreSQL refuses a share policy with a subquery that reaches `documents` again ("infinite
 * recursion detected in policy"). Every document has that row, written by a trigger in the
 * document's own transaction, and its read policy reads nothing.
 */
const ownerBySearchIndex = (documentId: SQLWrapper) =>
  sql`exists (select 1 from document_search s where s.document_id = ${documentId} and (${sql.raw(personalOf("s"))} or ${sql.raw(inProject("s", "manage"))}))`;

/**
 * `ownerBySearchIndex` for ending shares: an owner or admin of the document's project may end them
 * while the project is archived too (taking access away stays possible when nothing else changes).
 */
const revokerBySearchIndex = (documentId: SQLWrapper) =>
  sql`exists (select 1 from document_search s where s.document_id = ${documentId} and (${sql.raw(personalOf("s"))} or (s.project_id is not null and project_role(s.project_id) in ('owner', 'admin'))))`;

/** Read or write access given by a document's owner to another user. */
export const documentShares = pgTable(
  "document_shares",
  {
    documentId: uuid("document_id")
      .notNull()
      .references(() => documents.id, { onDelete: "cascade" }),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    access: varchar("access", { length: 10 }).$type<ShareAccess>().notNull(),
    grantedBy: uuid("granted_by").references(() => users.id, { onDelete: "set null" }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.documentId, t.userId] }),
    check("document_shares_access_check", sql.raw(`access in (${inList(SHARE_ACCESS)})`)),
    index("document_shares_user_idx").on(t.userId),
    // Owners see every share of their documents, also those an admin granted, so they can change
    // or end them.
    pgPolicy("document_shares_read", {
      for: "select",
      using: sql`${t.userId} = ${actorId} or ${t.grantedBy} = ${actorId} or ${isStaff} or ${ownerBySearchIndex(t.documentId)}`,
    }),
    pgPolicy("document_shares_insert", {
      for: "insert",
      withCheck: sql`${isStaff} or (${t.grantedBy} = ${actorId} and ${ownerBySearchIndex(t.documentId)})`,
    }),
    // Changing a share's access (PUT on an existing share). Without this policy the upsert's
    // update could never pass and every re-share failed (migration 0011).
    pgPolicy("document_shares_update", {
      for: "update",
      using: sql`${isStaff} or ${ownerBySearchIndex(t.documentId)}`,
      withCheck: sql`${isStaff} or ${ownerBySearchIndex(t.documentId)}`,
    }),
    // The owner, whoever granted the share (an admin may have), the user leaving, or staff.
    pgPolicy("document_shares_delete", {
      for: "delete",
      using: sql`${t.grantedBy} = ${actorId} or ${t.userId} = ${actorId} or ${isStaff} or ${revokerBySearchIndex(t.documentId)}`,
    }),
  ],
).enableRLS();

/** Text extracted from a version, where search reads it. */
export const documentContent = pgTable(
  "document_content",
  {
    documentId: uuid("document_id")
      .notNull()
      .references(() => documents.id, { onDelete: "cascade" }),
    version: integer("version").notNull(),
    text: text("text").notNull(),
    truncated: boolean("truncated").notNull().default(false),
    extractedAt: timestamp("extracted_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.documentId, t.version] }),
    pgPolicy("document_content_read", { for: "select", using: parentVisible }),
    pgPolicy("document_content_write", { for: "all", using: isStaff, withCheck: isStaff }),
  ],
).enableRLS();

/**
 * Objects being written before their version row exists. Removed in the same transaction that
 * records the version; one left behind (the database failed, then the clean-up failed too) is an
 * orphan the sweeper deletes.
 */
const recordedByVersion = (key: SQLWrapper) =>
  sql`exists (select 1 from document_versions v where v.storage_key = ${key})`;

export const uploadIntents = pgTable(
  "upload_intents",
  {
    storageKey: text("storage_key").primaryKey(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    pgPolicy("upload_intents_system", { for: "all", using: isStaff, withCheck: isStaff }),
    // The upload's own transaction, acting as the user, ends the intent once a version records its
    // key; without this a user's upload left its intent behind for the sweeper (migration 0009).
    // A DELETE with a WHERE clause needs the SELECT policy too (PostgreSQL, CREATE POLICY).
    pgPolicy("upload_intents_recorded_read", { for: "select", using: recordedByVersion(t.storageKey) }),
    pgPolicy("upload_intents_recorded", { for: "delete", using: recordedByVersion(t.storageKey) }),
  ],
).enableRLS();

export type Document = typeof documents.$inferSelect;
export type NewDocument = typeof documents.$inferInsert;
export type DocumentVersion = typeof documentVersions.$inferSelect;
export type DocumentShare = typeof documentShares.$inferSelect;
