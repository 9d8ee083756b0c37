import { sql } from "drizzle-orm";
import {
  boolean,
  customType,
  foreignKey,
  index,
  integer,
  jsonb,
  pgPolicy,
  pgTable,
  primaryKey,
  real,
  text,
  timestamp,
  uniqueIndex,
  uuid,
  varchar,
} from "drizzle-orm/pg-core";
import { documents, parentWritable } from "./documents.ts";
import { actorId, isStaff, staffOr } from "./rls.ts";
import { users } from "./users.ts";

const tsvector = customType<{ data: string }>({ dataType: () => "tsvector" });

/**
 * The search index (the architecture's Elasticsearch index, in Postgres): per document one
 * weighted tsvector over its title (English analysis and the standard, unstemmed form: weight A),
 * its tags (keyword: B) and the extracted text of its current version (English: C), beside copies
 * of what searches filter, sort and facet on: owner, project, title (the exact keyword form), tags, content
 * type, creation date and whether it may appear at all (not deleted, not quarantined). Kept current
 * by triggers on `documents` and `document_content` (migration 0008), never written by the app.
 *
 * Reading it is not restricted by row-level security, deliberately: Postgres evaluates a policy
 * before any operator that is not leakproof (`@@`, `@>`, pg_trgm's `%`), so under a policy no
 * GIN or trigram index could ever serve a search. Every query of it states who may read what
 * itself (src/db/queries/search.ts, the same rule as the `documents_read` policy), and documents
 * are then loaded from `documents`, whose policy applies as everywhere.
 */
export const documentSearch = pgTable(
  "document_search",
  {
    documentId: uuid("document_id")
      .primaryKey()
      .references(() => documents.id, { onDelete: "cascade" }),
    ownerId: uuid("owner_id").notNull(),
    /** The document's project, or null for a personal document. */
    projectId: uuid("project_id"),
    title: varchar("title", { length: 255 }).notNull(),
    tags: text("tags").array().notNull(),
    contentType: varchar("content_type", { length: 255 }).notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull(),
    /** Not deleted and not quarantined: may appear in results. */
    searchable: boolean("searchable").notNull(),
    vector: tsvector("vector").notNull(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index("document_search_vector_idx").using("gin", t.vector),
    index("document_search_tags_idx").using("gin", t.tags),
    index("document_search_title_trgm_idx").using("gin", sql`lower(${t.title}) gin_trgm_ops`),
    // The ranking's exact-title bonus looks titles up here once per search (a hashed set) instead
    // of lower-casing every match's title (src/db/queries/search.ts).
    index("document_search_title_lower_idx").on(sql`lower(${t.title})`),
    index("document_search_created_idx").on(t.createdAt.desc(), t.documentId.desc()),
    index("document_search_owner_idx").on(t.ownerId, t.createdAt.desc()),
    index("document_search_project_idx").on(t.projectId, t.createdAt.desc()).where(sql`${t.projectId} is not null`),
    pgPolicy("document_search_read", { for: "select", using: sql`true` }),
    // Written only by the index triggers, as whoever changed the document.
    pgPolicy("document_search_insert", { for: "insert", withCheck: parentWritable }),
    pgPolicy("document_search_update", { for: "update", using: parentWritable, withCheck: parentWritable }),
    pgPolicy("document_search_delete", { for: "delete", using: parentWritable }),
  ],
).enableRLS();

export const VOCABULARY_KINDS = ["word", "tag"] as const;
export type VocabularyKind = (typeof VOCABULARY_KINDS)[number];

/**
 * Every word and tag ever indexed, unstemmed, for typo-tolerant suggestions (trigram index). It
 * says nothing about who may see a word: a candidate from here is only offered after a query as
 * the user finds a readable document containing it. Readable without a policy's restriction for
 * the same reason as `document_search` (its trigram index would be unusable); only the Search
 * Service reads it, as the system.
 */
export const searchVocabulary = pgTable(
  "search_vocabulary",
  {
    term: varchar("term", { length: 64 }).notNull(),
    kind: varchar("kind", { length: 8 }).$type<VocabularyKind>().notNull(),
  },
  (t) => [
    uniqueIndex("search_vocabulary_key").on(t.kind, t.term),
    index("search_vocabulary_trgm_idx").using("gin", sql`${t.term} gin_trgm_ops`),
    pgPolicy("search_vocabulary_read", { for: "select", using: sql`true` }),
    // The index triggers add words as whoever changed the document: adding is harmless, reading is not.
    pgPolicy("search_vocabulary_insert", { for: "insert", withCheck: sql`true` }),
    // A purged document's words go with it (the sweeper, as the system).
    pgPolicy("search_vocabulary_delete", { for: "delete", using: isStaff }),
  ],
).enableRLS();

/**
 * One search as the Analytics Service records it. Partitioned by month on `created_at` (migration
 * 0038; drizzle does not declare partitioning, so it lives in SQL only): hence the primary key
 * (id, created_at), and the sweeper drops whole months past `SEARCH_EVENTS_RETENTION_DAYS`
 * (src/processor/partitions.ts).
 */
export const searchQueries = pgTable(
  "search_queries",
  {
    id: uuid("id").defaultRandom().notNull(),
    userId: uuid("user_id").references(() => users.id, { onDelete: "set null" }),
    /** The query as normalised for caching (trimmed, lower-cased, spaces collapsed). */
    query: varchar("query", { length: 500 }).notNull(),
    filters: jsonb("filters").$type<Record<string, unknown>>().notNull().default({}),
    resultCount: integer("result_count").notNull(),
    latencyMs: real("latency_ms").notNull(),
    cacheHit: boolean("cache_hit").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.id, t.createdAt] }),
    index("search_queries_created_idx").on(t.createdAt),
    index("search_queries_query_trgm_idx").using("gin", sql`${t.query} gin_trgm_ops`),
    pgPolicy("search_queries_read", {
      for: "select",
      using: sql`${t.userId} = ${actorId} or ${staffOr("analytics:read")}`,
    }),
    pgPolicy("search_queries_insert", { for: "insert", withCheck: sql`${t.userId} = ${actorId} or ${isStaff}` }),
  ],
).enableRLS();

/**
 * A result the user opened from a search: click-through for the Analytics Service. Partitioned by
 * month on its search's time (`query_created_at`, migration 0038), so a search and its clicks
 * share a month and are dropped together; the foreign key to the partitioned `search_queries`
 * names its whole key.
 */
export const searchClicks = pgTable(
  "search_clicks",
  {
    queryId: uuid("query_id").notNull(),
    /** The search's `created_at`: the partition key, and half of the reference to the search. */
    queryCreatedAt: timestamp("query_created_at", { withTimezone: true }).notNull(),
    documentId: uuid("document_id")
      .notNull()
      .references(() => documents.id, { onDelete: "cascade" }),
    position: integer("position").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    foreignKey({
      name: "search_clicks_query_fk",
      columns: [t.queryId, t.queryCreatedAt],
      foreignColumns: [searchQueries.id, searchQueries.createdAt],
    }).onDelete("cascade"),
    uniqueIndex("search_clicks_once_key").on(t.queryId, t.documentId, t.queryCreatedAt),
    pgPolicy("search_clicks_read", {
      for: "select",
      using: sql`${staffOr("analytics:read")} or exists (select 1 from search_queries q where q.id = ${t.queryId} and q.created_at = ${t.queryCreatedAt})`,
    }),
    pgPolicy("search_clicks_insert", {
      for: "insert",
      withCheck: sql`${isStaff} or exists (select 1 from search_queries q where q.id = ${t.queryId} and q.created_at = ${t.queryCreatedAt} and q.user_id = ${actorId})`,
    }),
  ],
).enableRLS();

export type SearchQuery = typeof searchQueries.$inferSelect;

/**
 * Phrases administrators keep out of autocomplete: a popular query containing one (both as
 * normalised by `normalizeQuery`) is never suggested. Managed at
 * `/analytics/search/suppressed-queries` by administrators; read by the Search Service as the
 * system. Staff only, under forced row-level security (migration 0015).
 */
export const suppressedQueries = pgTable(
  "search_suppressed_queries",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    phrase: varchar("phrase", { length: 200 }).notNull(),
    reason: varchar("reason", { length: 500 }),
    suppressedBy: uuid("suppressed_by").references(() => users.id, { onDelete: "set null" }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("search_suppressed_queries_phrase_key").on(t.phrase),
    pgPolicy("search_suppressed_queries_staff", { for: "all", using: isStaff, withCheck: isStaff }),
  ],
).enableRLS();

export type SuppressedQuery = typeof suppressedQueries.$inferSelect;
