// Bulk loading: the corpus written straight into Postgres as the system, as if every document had
// been uploaded and processed (ready, scanned clean, its text extracted). The database's own
// triggers index each document for search, exactly as on the normal path. Optionally the files
// go to S3 too, so that downloads work.
import { createHash, pbkdf2Sync, randomBytes } from "node:crypto";
import pg from "pg";
import { type CorpusDocument, type CorpusOptions, corpusDocuments, corpusUsers } from "./generate.ts";

/** Every corpus user's password (they can log in, e.g. in `npm run dev`). */
export const CORPUS_PASSWORD = "corpus password";

export interface BulkOptions extends CorpusOptions {
  databaseUrl: string;
  /** Documents per transaction. */
  batchSize?: number;
  /** Stores a document's file; without it, rows only (search and listing work, downloads do not). */
  putObject?: (key: string, body: string, contentType: string) => Promise<void>;
  onProgress?: (loaded: number, total: number) => void;
}

export interface BulkResult {
  users: number;
  /** Documents written by this run (documents already there are skipped). */
  inserted: number;
  skipped: number;
  seconds: number;
}

/** The password hash format of src/auth/password-hasher.ts (PBKDF2-SHA256, 100,000 iterations). */
function passwordHash(password: string): string {
  const salt = randomBytes(16);
  const hash = pbkdf2Sync(password.normalize("NFC"), salt, 100_000, 32, "sha256");
  return `pbkdf2_sha256$100000$${salt.toString("base64")}$${hash.toString("base64")}`;
}

const storageKey = (doc: CorpusDocument) => `documents/${doc.id}/corpus-v1`;

async function asSystem<T>(client: pg.Client, work: () => Promise<T>): Promise<T> {
  await client.query("begin");
  try {
    await client.query("select set_config('app.role', 'system', true)");
    const result = await work();
    await client.query("commit");
    return result;
  } catch (error) {
    await client.query("rollback");
    throw error;
  }
}

/** Inserts the corpus users that are missing; returns every corpus user's id by index. */
async function loadUsers(client: pg.Client, options: CorpusOptions): Promise<string[]> {
  const users = corpusUsers(options);
  const hash = passwordHash(CORPUS_PASSWORD);
  return asSystem(client, async () => {
    await client.query(
      `insert into users (email, username, password_hash, email_verified, display_name)
       select u.email, u.username, $3, true, u.username from unnest($1::text[], $2::text[]) as u(email, username)
       on conflict do nothing`,
      [users.map((u) => u.email), users.map((u) => u.username), hash],
    );
    const { rows } = await client.query<{ id: string; email: string }>(
      "select id, email from users where email = any($1::text[])",
      [users.map((u) => u.email)],
    );
    const byEmail = new Map(rows.map((row) => [row.email, row.id]));
    return users.map((u) => {
      const id = byEmail.get(u.email);
      if (!id) throw new Error(`corpus user ${u.email} is missing`);
      return id;
    });
  });
}

async function insertBatch(client: pg.Client, batch: CorpusDocument[], userIds: string[]): Promise<number> {
  const sizes = batch.map((d) => Buffer.byteLength(d.body));
  const hashes = batch.map((d) => createHash("sha256").update(d.body).digest("hex"));
  const owners = batch.map((d) => userIds[d.ownerIndex] as string);
  return asSystem(client, async () => {
    const inserted = await client.query<{ id: string }>(
      `insert into documents (id, owner_id, title, tags, current_version, content_type, size_bytes, sha256, status, scan_result, processed_at, created_at, updated_at)
       select d.id, d.owner_id, d.title, array(select jsonb_array_elements_text(d.tags)), 1, d.content_type, d.size_bytes, d.sha256, 'ready', 'clean', d.created_at, d.created_at, d.created_at
       from unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[], $5::text[], $6::bigint[], $7::text[], $8::timestamptz[])
         as d(id, owner_id, title, tags, content_type, size_bytes, sha256, created_at)
       on conflict (id) do nothing
       returning id`,
      [
        batch.map((d) => d.id),
        owners,
        batch.map((d) => d.title),
        batch.map((d) => JSON.stringify(d.tags)),
        batch.map((d) => d.contentType),
        sizes,
        hashes,
        batch.map((d) => d.createdAt.toISOString()),
      ],
    );
    const fresh = new Set(inserted.rows.map((row) => row.id));
    const rows = batch
      .map((doc, i) => ({ doc, size: sizes[i], hash: hashes[i], owner: owners[i] }))
      .filter((row) => fresh.has(row.doc.id));
    const docs = rows.map((row) => row.doc);
    if (docs.length === 0) return 0;
    await client.query(
      `insert into document_versions (document_id, version, storage_key, content_type, size_bytes, sha256, filename, created_by, status, scan_result, processed_at, created_at)
       select v.document_id, 1, v.storage_key, v.content_type, v.size_bytes, v.sha256, null, v.created_by, 'ready', 'clean', v.created_at, v.created_at
       from unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::uuid[], $7::timestamptz[])
         as v(document_id, storage_key, content_type, size_bytes, sha256, created_by, created_at)`,
      [
        docs.map((d) => d.id),
        docs.map(storageKey),
        docs.map((d) => d.contentType),
        rows.map((row) => row.size),
        rows.map((row) => row.hash),
        rows.map((row) => row.owner),
        docs.map((d) => d.createdAt.toISOString()),
      ],
    );
    // The text as the processor would have extracted it; the content trigger indexes it.
    await client.query(
      `insert into document_content (document_id, version, text, truncated, extracted_at)
       select c.document_id, 1, c.text, false, c.extracted_at from unnest($1::uuid[], $2::text[], $3::timestamptz[]) as c(document_id, text, extracted_at)`,
      [docs.map((d) => d.id), docs.map((d) => d.text), docs.map((d) => d.createdAt.toISOString())],
    );
    const shares = docs.flatMap((d) =>
      d.shares.map((s) => ({
        documentId: d.id,
        userId: userIds[s.userIndex] as string,
        access: s.access,
        grantedBy: userIds[d.ownerIndex] as string,
      })),
    );
    if (shares.length > 0) {
      await client.query(
        `insert into document_shares (document_id, user_id, access, granted_by)
         select * from unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[]) on conflict do nothing`,
        [
          shares.map((s) => s.documentId),
          shares.map((s) => s.userId),
          shares.map((s) => s.access),
          shares.map((s) => s.grantedBy),
        ],
      );
    }
    return docs.length;
  });
}

/** Loads the corpus of `options.seed` up to `options.count` documents; safe to run again. */
export async function loadBulk(options: BulkOptions): Promise<BulkResult> {
  const started = performance.now();
  const client = new pg.Client({ connectionString: options.databaseUrl });
  await client.connect();
  try {
    const userIds = await loadUsers(client, options);
    const batchSize = options.batchSize ?? 250;
    let inserted = 0;
    let seen = 0;
    let batch: CorpusDocument[] = [];
    const flush = async () => {
      if (options.putObject) {
        const put = options.putObject;
        // Files before rows: a row never points at a missing file.
        await Promise.all(batch.map((d) => put(storageKey(d), d.body, d.contentType)));
      }
      inserted += await insertBatch(client, batch, userIds);
      seen += batch.length;
      batch = [];
      options.onProgress?.(seen, options.count);
    };
    for (const doc of corpusDocuments(options)) {
      batch.push(doc);
      if (batch.length >= batchSize) await flush();
    }
    if (batch.length > 0) await flush();
    return { users: userIds.length, inserted, skipped: seen - inserted, seconds: (performance.now() - started) / 1000 };
  } finally {
    await client.end();
  }
}
