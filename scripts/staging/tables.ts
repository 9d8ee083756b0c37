// What a staging refresh does with every table and every column of src/db/schema, as data: a
// column that is not listed here makes test/node/staging-tables.test.ts fail, so a new column is
// classified before staging can be refreshed with it.
import { type Placeholder, type Pseudonyms, WORDS_WITHOUT_TEXT } from "./pseudonyms.ts";

/** The ids the sample holds; every reference kept in staging points inside it. */
export interface SampleSets {
  users: ReadonlySet<string>;
  projects: ReadonlySet<string>;
  documents: ReadonlySet<string>;
  searchQueries: ReadonlySet<string>;
}

export interface RowContext {
  /** The source row by column name (`to_jsonb`), plus the table's `extra` fields (`_…`). */
  row: Record<string, unknown>;
  p: Pseudonyms;
  sample: SampleSets;
  /** The staging password's hash, for every sampled user. */
  passwordHash: string;
}

export type Treatment =
  /** Copied as it is: ids, references inside the sample, states, counts, times. */
  | { kind: "keep" }
  /** A nullable reference that may leave the sample: kept when inside it, else null (ON DELETE SET NULL's meaning). */
  | { kind: "in-sample"; of: keyof SampleSets }
  /** Replaced by a stand-in (a function of the seed and the row's key) or a constant. */
  | { kind: "replace"; value: (ctx: RowContext) => unknown };

export type TableSpec =
  | {
      mode: "copy";
      /**
       * Which source rows belong to the sample, over the alias `t`. `{users}`, `{projects}`,
       * `{documents}` and `{searchQueries}` stand for the sample's id arrays (uuid[]).
       */
      where: string;
      /** Source order: the target is written in it, so two refreshes write alike. */
      orderBy: string;
      /** SQL expressions over `t` added to the row as `_name` for the treatments (never written). */
      extra?: Record<string, string>;
      /** The table's id is `generated always as identity`: copied with OVERRIDING SYSTEM VALUE. */
      identity?: string;
      columns: Record<string, Treatment>;
      /** The placeholder object a row needs in the staging bucket. */
      object?: (ctx: RowContext) => Placeholder;
    }
  /** Left empty in staging; `why` says what would be wrong with copying it. */
  | { mode: "empty"; why: string }
  /** Rebuilt in staging from the copied rows by the database's own functions. */
  | { mode: "rebuilt"; why: string };

const keep: Treatment = { kind: "keep" };
const inSample = (of: keyof SampleSets): Treatment => ({ kind: "in-sample", of });
const replace = (value: (ctx: RowContext) => unknown): Treatment => ({ kind: "replace", value });
/** A constant stand-in (free-form JSON, personal text no test needs). */
const constant = (value: unknown): Treatment => replace(() => value);
/** Null stays null; anything else becomes `value`. */
const unlessNull = (column: string, value: (ctx: RowContext) => unknown): Treatment =>
  replace((ctx) => (ctx.row[column] === null || ctx.row[column] === undefined ? null : value(ctx)));

const str = (ctx: RowContext, column: string): string => String(ctx.row[column] ?? "");
const num = (ctx: RowContext, column: string): number => Number(ctx.row[column] ?? 0);

/**
 * Words of a text as the refresh counts them (runs of non-whitespace), in SQL so the filler of a
 * version's text and of its placeholder object agree on one count.
 */
export const wordsSql = (text: string) =>
  `case when coalesce(${text}, '') ~ '^\\s*$' then 0 else array_length(regexp_split_to_array(regexp_replace(${text}, '^\\s+|\\s+$', '', 'g'), '\\s+'), 1) end`;

const versionWords = (documentId: string, version: string) =>
  `(select ${wordsSql("c.text")} from document_content c where c.document_id = ${documentId} and c.version = ${version})`;

/** The placeholder of the version a row names. */
const placeholderOf = (ctx: RowContext, documentId: string, version: number, type: string) =>
  ctx.p.placeholder(documentId, version, ctx.row._words === null ? WORDS_WITHOUT_TEXT : num(ctx, "_words"), type);

const currentPlaceholder = (ctx: RowContext) =>
  placeholderOf(
    ctx,
    str(ctx, "id"),
    num(ctx, "current_version"),
    String(ctx.row._version_type ?? ctx.row.content_type),
  );
const versionPlaceholder = (ctx: RowContext) =>
  placeholderOf(ctx, str(ctx, "document_id"), num(ctx, "version"), str(ctx, "content_type"));

/**
 * Every table of src/db/schema, in the order a refresh writes them (referenced tables first).
 * The sample: `--users N` users chosen by the seed; the projects one of them owns; the documents
 * they own that are personal or in those projects; and every row of theirs below that whose other
 * references stay inside the sample.
 */
export const STAGING_TABLES: Record<string, TableSpec> = {
  users: {
    mode: "copy",
    where: "t.id = any({users})",
    orderBy: "t.id",
    columns: {
      id: keep,
      email: replace((ctx) => ctx.p.email(str(ctx, "id"))),
      username: replace((ctx) => ctx.p.userHandle(str(ctx, "id"))),
      // Every sampled user signs in with the one staging password (README, "Staging data"),
      // third-party-only accounts too: staging has other OpenID providers.
      password_hash: replace((ctx) => ctx.passwordHash),
      role: keep,
      status: keep,
      email_verified: keep,
      display_name: unlessNull("display_name", (ctx) => `Tester ${ctx.p.hex("display", str(ctx, "id")).slice(0, 6)}`),
      bio: constant(null),
      // A URL of the person's picture, possibly on a service that names them.
      avatar_url: constant(null),
      locale: keep,
      timezone: keep,
      // Free-form client settings: anything a client chose to store.
      preferences: constant({}),
      last_login_at: keep,
      password_change_required: constant(false),
      deletion_requested_at: keep,
      created_at: keep,
      updated_at: keep,
    },
  },
  user_permissions: {
    mode: "copy",
    where: "t.user_id = any({users})",
    orderBy: "t.user_id, t.permission",
    columns: { user_id: keep, permission: keep, granted_at: keep, granted_by: inSample("users") },
  },
  user_mfa: {
    mode: "empty",
    why: "the TOTP secret is sealed with production's DATA_ENCRYPTION_KEY and the recovery codes are credentials: sampled users sign in with the staging password alone and may enrol again",
  },
  oauth_identities: {
    mode: "copy",
    where: "t.user_id = any({users})",
    orderBy: "t.provider, t.subject",
    columns: {
      provider: keep,
      subject: replace(
        (ctx) => `staging-${ctx.p.hex("subject", str(ctx, "provider"), str(ctx, "subject")).slice(0, 24)}`,
      ),
      user_id: keep,
      email: replace((ctx) => ctx.p.email(str(ctx, "user_id"))),
      created_at: keep,
    },
  },
  account_lockouts: {
    mode: "empty",
    why: "mirrors the login throttle's Durable Objects, which staging does not share",
  },
  account_tokens: {
    mode: "empty",
    why: "single-use verification and reset links in flight, mailed to production addresses",
  },
  api_keys: {
    mode: "empty",
    why: "credentials: testers create their own keys in staging",
  },
  projects: {
    mode: "copy",
    where: "t.id = any({projects})",
    orderBy: "t.id",
    columns: {
      id: keep,
      slug: replace((ctx) => `project-${ctx.p.hex("slug", str(ctx, "id")).slice(0, 12)}`),
      name: replace((ctx) => ctx.p.title(str(ctx, "name"), 100, "project", str(ctx, "id"))),
      description: replace((ctx) => ctx.p.text(str(ctx, "description"), "project-description", str(ctx, "id"))),
      settings: constant({}),
      created_by: inSample("users"),
      archived_at: keep,
      deleted_at: keep,
      created_at: keep,
      updated_at: keep,
    },
  },
  project_members: {
    mode: "copy",
    where: "t.project_id = any({projects}) and t.user_id = any({users})",
    orderBy: "t.project_id, t.user_id",
    columns: {
      project_id: keep,
      user_id: keep,
      role: keep,
      added_by: inSample("users"),
      created_at: keep,
      updated_at: keep,
    },
  },
  project_invitations: {
    mode: "copy",
    where: "t.project_id = any({projects}) and t.invitee_id = any({users})",
    orderBy: "t.id",
    columns: {
      id: keep,
      project_id: keep,
      invitee_id: keep,
      // The email or username the inviter typed.
      login: replace((ctx) => (str(ctx, "login") === "" ? "" : ctx.p.userHandle(str(ctx, "invitee_id")))),
      role: keep,
      status: keep,
      invited_by: inSample("users"),
      expires_at: keep,
      responded_at: keep,
      created_at: keep,
    },
  },
  documents: {
    mode: "copy",
    where: "t.id = any({documents})",
    orderBy: "t.id",
    extra: {
      words: versionWords("t.id", "t.current_version"),
      version_type:
        "(select v.content_type from document_versions v where v.document_id = t.id and v.version = t.current_version)",
    },
    columns: {
      id: keep,
      owner_id: keep,
      project_id: keep,
      title: replace((ctx) => ctx.p.title(str(ctx, "title"), 255, "title", str(ctx, "id"))),
      tags: replace((ctx) => [...new Set((ctx.row.tags as string[]).map((tag) => ctx.p.tag(tag)))]),
      current_version: keep,
      // The current version's placeholder object, which downloads serve.
      content_type: replace((ctx) => currentPlaceholder(ctx).contentType),
      size_bytes: replace((ctx) => currentPlaceholder(ctx).sizeBytes),
      // Production's digest would fingerprint the production file.
      sha256: replace((ctx) => currentPlaceholder(ctx).sha256),
      status: keep,
      failure_reason: keep,
      scan_result: keep,
      processed_at: keep,
      deleted_at: keep,
      created_at: keep,
      updated_at: keep,
    },
  },
  document_versions: {
    mode: "copy",
    where: "t.document_id = any({documents})",
    orderBy: "t.document_id, t.version",
    extra: { words: versionWords("t.document_id", "t.version") },
    columns: {
      document_id: keep,
      version: keep,
      storage_key: replace((ctx) => versionPlaceholder(ctx).key),
      content_type: replace((ctx) => versionPlaceholder(ctx).contentType),
      size_bytes: replace((ctx) => versionPlaceholder(ctx).sizeBytes),
      sha256: replace((ctx) => versionPlaceholder(ctx).sha256),
      filename: unlessNull(
        "filename",
        (ctx) =>
          `document-${ctx.p.hex("filename", str(ctx, "document_id"), num(ctx, "version")).slice(0, 8)}.${versionPlaceholder(ctx).extension}`,
      ),
      created_by: inSample("users"),
      restored_from: keep,
      status: keep,
      failure_reason: keep,
      // A parser's or a dependency's message, which may quote the file.
      failure_detail: unlessNull("failure_detail", () => "(removed by the staging refresh)"),
      extraction_starts: keep,
      scan_result: keep,
      // Thumbnails are pictures of production files: none in staging.
      thumbnail_key: constant(null),
      processed_at: keep,
      created_at: keep,
      updated_at: keep,
    },
    object: versionPlaceholder,
  },
  document_content: {
    mode: "copy",
    where: "t.document_id = any({documents})",
    orderBy: "t.document_id, t.version",
    extra: { words: wordsSql("t.text") },
    columns: {
      document_id: keep,
      version: keep,
      // The same words as the version's placeholder object.
      text: replace((ctx) => ctx.p.words(num(ctx, "_words"), "text", str(ctx, "document_id"), num(ctx, "version"))),
      truncated: keep,
      extracted_at: keep,
    },
  },
  document_shares: {
    mode: "copy",
    where: "t.document_id = any({documents}) and t.user_id = any({users})",
    orderBy: "t.document_id, t.user_id",
    columns: { document_id: keep, user_id: keep, access: keep, granted_by: inSample("users"), created_at: keep },
  },
  document_search: {
    mode: "rebuilt",
    why: "the search index of the copied documents, rebuilt from their stand-in titles, tags and text by refresh_document_search",
  },
  search_vocabulary: {
    mode: "rebuilt",
    why: "the words of the indexed titles and text, rebuilt with the search index",
  },
  upload_intents: { mode: "empty", why: "objects being written in production at the time of the copy" },
  uploads: {
    mode: "empty",
    why: "resumable uploads in flight, whose parts are production bytes in production's bucket",
  },
  upload_parts: { mode: "empty", why: "parts of the uploads in flight (see uploads)" },
  project_activity: {
    mode: "copy",
    where: "t.project_id = any({projects})",
    orderBy: "t.id",
    columns: {
      id: keep,
      project_id: keep,
      actor_id: inSample("users"),
      action: keep,
      document_id: inSample("documents"),
      subject_user_id: inSample("users"),
      // Titles, names and logins as they were when the activity happened.
      details: constant({}),
      created_at: keep,
    },
  },
  search_queries: {
    mode: "copy",
    where: "t.user_id = any({users})",
    orderBy: "t.id",
    columns: {
      id: keep,
      user_id: keep,
      query: replace((ctx) => ctx.p.text(str(ctx, "query"), "query", str(ctx, "id")).slice(0, 500)),
      // Tags and owners the query was narrowed to.
      filters: constant({}),
      result_count: keep,
      latency_ms: keep,
      cache_hit: keep,
      created_at: keep,
    },
  },
  search_clicks: {
    mode: "copy",
    where: "t.query_id = any({searchQueries}) and t.document_id = any({documents})",
    orderBy: "t.query_id, t.document_id",
    columns: { query_id: keep, query_created_at: keep, document_id: keep, position: keep, created_at: keep },
  },
  search_suppressed_queries: {
    mode: "empty",
    why: "operators' list of phrases kept out of suggestions: often the very names and words staging must not show",
  },
  notifications: {
    mode: "copy",
    where: "t.user_id = any({users})",
    orderBy: "t.id",
    columns: {
      id: keep,
      user_id: keep,
      type: keep,
      title: replace((ctx) => ctx.p.title(str(ctx, "title"), 255, "notification-title", str(ctx, "id"))),
      body: replace((ctx) => ctx.p.text(str(ctx, "body"), "notification-body", str(ctx, "id"))),
      // Document titles, names and links of the event.
      data: constant({}),
      event_id: keep,
      read_at: keep,
      created_at: keep,
    },
  },
  webhooks: {
    mode: "empty",
    why: "the signing secret is sealed with production's DATA_ENCRYPTION_KEY and the URL is a customer's receiver, which staging must never call",
  },
  webhook_deliveries: { mode: "empty", why: "deliveries to the webhooks left out" },
  audit_events: {
    mode: "copy",
    where: "t.target_user_id = any({users}) or (t.target_user_id is null and t.actor_id = any({users}))",
    orderBy: "t.id",
    identity: "id",
    columns: {
      id: keep,
      occurred_at: keep,
      action: keep,
      outcome: keep,
      actor_id: inSample("users"),
      target_user_id: inSample("users"),
      ip: unlessNull("ip", (ctx) => ctx.p.ip(str(ctx, "ip"), "audit", num(ctx, "id"))),
      user_agent: unlessNull("user_agent", () => "Mozilla/5.0 (staging refresh; anonymised)"),
      // Ties the event to production's logs.
      request_id: unlessNull("request_id", (ctx) => `staging-${ctx.p.hex("request", num(ctx, "id")).slice(0, 16)}`),
      // Old and new emails, usernames, names of the event.
      details: constant({}),
    },
  },
  sessions_outbox: {
    mode: "empty",
    why: "session revocations pending for production's session store",
  },
};
