import { execFile } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { CORPUS_PASSWORD, loadBulk } from "../../scripts/corpus/bulk.ts";
import { corpusDocuments, corpusUsers } from "../../scripts/corpus/generate.ts";
import { RefreshRefused, STAGING_MARKER } from "../../scripts/staging/guard.ts";
import { stagingPasswordHash } from "../../scripts/staging/password.ts";
import { FILLER_WORDS, Pseudonyms } from "../../scripts/staging/pseudonyms.ts";
import { DEFAULT_STAGING_PASSWORD, type RefreshOptions, refreshStaging } from "../../scripts/staging/refresh.ts";
import { asSystemSession } from "../../scripts/system-session.ts";
import { applyMigrations } from "../../stack/migrate.ts";
import { freePort } from "../../stack/ports.ts";
import { type PostgresServer, startPostgres } from "../../stack/postgres.ts";

// A Postgres of its own (the stack's binaries): the test creates databases, which the stack's
// application role may not, and the source must hold nothing but what the test wrote.
let server: PostgresServer;
let dataDir: string;
let sourceUrl: string;
let targetUrl: string;
const CORPUS_SEED = 4242;
const corpusOptions = { seed: CORPUS_SEED, count: 60, users: 12 };
/** Values written to the source that must appear nowhere in staging. */
const SECRETS = [
  "secret-person",
  "corp-secret.test",
  "Hidden Biography",
  "Quarterly Merger Plan",
  "zanzibarium",
  "10.77.1.2",
  "SecretAgent/9.9",
  "req-production-1",
  "google-subject-777",
  "hooks.customer.test",
  "marmalade query",
  "Project Nightjar",
  "nightjar",
  "confidential-tag",
  "Your Quarterly Merger Plan is ready",
  "secret-file.pdf",
];

const urlOf = (database: string) => {
  const url = new URL(server.url);
  url.pathname = `/${database}`;
  return url.toString();
};

async function createDatabase(name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database "${name}" owner techcorp_app`);
  } finally {
    await admin.end();
  }
  return urlOf(name);
}

/** A user id that the sample of `seed` orders before nearly every other (its md5 key starts "00"). */
function sampledFirst(seed: string): string {
  for (;;) {
    const id = randomUUID();
    if (createHash("md5").update(`${seed}:${id}`).digest("hex").startsWith("00")) return id;
  }
}

/** Rows the bulk corpus does not write: projects, identities, credentials, audit, notifications. */
async function addSourceRows(client: pg.Client): Promise<void> {
  // The sample is the users first by md5(seed:id) (scripts/staging/refresh.ts): the project's three
  // members get ids that come first under the first refresh's seed, so it surely takes them (their
  // rows are what the checks below look for); the other five are left to chance.
  const chosen = [sampledFirst("first"), sampledFirst("first"), sampledFirst("first")];
  const users = await client.query<{ id: string }>(
    `insert into users (id, email, username, password_hash, display_name, bio, email_verified)
     select coalesce(($1::uuid[])[i], gen_random_uuid()), 'secret-person-' || i || '@corp-secret.test', 'secret-person-' || i, '!', 'Secret Person ' || i, 'Hidden Biography ' || i, true
     from generate_series(1, 8) as i returning id`,
    [chosen],
  );
  const ids = users.rows.map((row) => row.id);
  const [a, b, c] = ids as [string, string, string];
  await client.query(
    `insert into projects (id, slug, name, description, created_by) values
       ('11111111-1111-4111-8111-111111111111', 'nightjar', 'Project Nightjar', 'nightjar plans', $1)`,
    [a],
  );
  await client.query(
    `insert into project_members (project_id, user_id, role, added_by) values
       ('11111111-1111-4111-8111-111111111111', $1, 'owner', $1),
       ('11111111-1111-4111-8111-111111111111', $2, 'editor', $1),
       ('11111111-1111-4111-8111-111111111111', $3, 'viewer', $1)`,
    [a, b, c],
  );
  for (const [index, owner] of ids.entries()) {
    const id = `22222222-2222-4222-8222-${String(index).padStart(12, "0")}`;
    await client.query(
      `insert into documents (id, owner_id, project_id, title, tags, content_type, size_bytes, sha256, status, scan_result)
       values ($1, $2, $3, 'Quarterly Merger Plan ' || $4, '{confidential-tag}', 'application/pdf', 1000, repeat('a', 64), 'ready', 'clean')`,
      [id, owner, index < 2 ? "11111111-1111-4111-8111-111111111111" : null, index],
    );
    await client.query(
      `insert into document_versions (document_id, version, storage_key, content_type, size_bytes, sha256, filename, created_by, status, thumbnail_key)
       values ($1, 1, $3, 'application/pdf', 1000, repeat('a', 64), 'secret-file.pdf', $2, 'ready', 'thumbs/secret')`,
      [id, owner, `documents/${id}/secret`],
    );
    await client.query(
      "insert into document_content (document_id, version, text) values ($1, 1, 'the zanzibarium merger closes on friday')",
      [id],
    );
    await client.query(
      `insert into notifications (user_id, type, title, body, data, event_id)
       values ($1, 'document.ready', 'Your Quarterly Merger Plan is ready', 'Quarterly Merger Plan', '{"title": "Quarterly Merger Plan"}', gen_random_uuid())`,
      [owner],
    );
    await client.query(
      `insert into audit_events (action, actor_id, target_user_id, ip, user_agent, request_id, details)
       values ('user.email_changed', $1, $1, '10.77.1.2', 'SecretAgent/9.9', 'req-production-1', '{"from": "secret-person@corp-secret.test"}')`,
      [owner],
    );
    await client.query(
      "insert into oauth_identities (provider, subject, user_id, email) values ('google', $2, $1, 'secret-person@corp-secret.test')",
      [owner, `google-subject-777-${index}`],
    );
    await client.query(
      "insert into user_mfa (user_id, secret_ciphertext, recovery_code_hashes) values ($1, 'sealed-secret', '[\"abc\"]')",
      [owner],
    );
    await client.query(
      "insert into webhooks (user_id, url, secret_ciphertext) values ($1, 'https://hooks.customer.test/in', 'sealed-secret')",
      [owner],
    );
    const query = await client.query<{ id: string }>(
      `insert into search_queries (user_id, query, filters, result_count, latency_ms, cache_hit)
       values ($1, 'marmalade query', '{"tags": ["confidential-tag"]}', 1, 3.5, false) returning id`,
      [owner],
    );
    // The search's time in SQL: a JavaScript Date would drop its microseconds, and the reference
    // to the search (id and time, its partition key) would miss.
    await client.query(
      `insert into search_clicks (query_id, query_created_at, document_id, position)
       select id, created_at, $2, 1 from search_queries where id = $1`,
      [query.rows[0]?.id, id],
    );
  }
  // A share inside the sample for certain: the third member's personal document, shared with the
  // owner (the corpus's own shares join sampled users only by chance).
  await client.query(
    "insert into document_shares (document_id, user_id, access, granted_by) values ('22222222-2222-4222-8222-000000000002', $1, 'read', $2)",
    [a, c],
  );
  await client.query(
    `insert into api_keys (id, user_id, name, scopes, secret_hash, last_characters, expires_at)
     values (gen_random_uuid(), $1, 'deploy key', '{documents:read}', repeat('b', 64), 'abcd', now() + interval '1 day')`,
    [a],
  );
}

/** Every table of a database, as text rows in a fixed order. */
async function dump(url: string): Promise<Record<string, string[]>> {
  return asSystemSession(url, async (client) => {
    const { rows: tables } = await client.query<{ name: string }>(
      "select tablename as name from pg_tables where schemaname = 'public' order by tablename",
    );
    const out: Record<string, string[]> = {};
    for (const { name } of tables) {
      const { rows } = await client.query<{ r: string }>(`select to_jsonb(t)::text as r from "${name}" t order by 1`);
      out[name] = rows.map((row) => row.r);
    }
    return out;
  });
}

const s3 = () => {
  const stack = inject("stack");
  return {
    client: new S3Client({
      region: stack.S3_REGION ?? "us-east-1",
      endpoint: stack.S3_ENDPOINT,
      forcePathStyle: true,
      credentials: { accessKeyId: stack.S3_ACCESS_KEY_ID ?? "", secretAccessKey: stack.S3_SECRET_ACCESS_KEY ?? "" },
    }),
    bucket: stack.S3_BUCKET ?? "",
  };
};

const refresh = (overrides: Partial<RefreshOptions> = {}) => {
  const { client, bucket } = s3();
  return refreshStaging({
    sourceUrl,
    targetUrl,
    targetEnvironment: "staging",
    users: 10,
    seed: "first",
    batchSize: 7,
    putObject: async (key, body, contentType) => {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
    },
    ...overrides,
  });
};

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), "staging-refresh-"));
  server = await startPostgres({
    dataDir: path.join(dataDir, "pg"),
    port: await freePort(),
    database: "staging_source",
    app: { role: "techcorp_app", password: "app" },
    logFile: path.join(dataDir, "postgres.log"),
  });
  sourceUrl = server.url;
  targetUrl = await createDatabase("staging_target");
  await applyMigrations(sourceUrl);
  await loadBulk({ ...corpusOptions, databaseUrl: sourceUrl });
  await asSystemSession(sourceUrl, addSourceRows);
}, 180_000);

afterAll(async () => {
  await server?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe("npm run staging:refresh", () => {
  let first: Record<string, string[]>;

  it("copies a sample closed under its references, anonymised, with placeholder objects", async () => {
    const sourceBefore = await dump(sourceUrl);
    const result = await refresh();
    first = await dump(targetUrl);
    // The source is read only.
    expect(await dump(sourceUrl)).toEqual(sourceBefore);

    expect(result.rows.users).toBe(10);
    expect(first.users).toHaveLength(10);
    expect(result.objects).toBe(result.rows.document_versions);
    for (const empty of [
      "user_mfa",
      "api_keys",
      "webhooks",
      "webhook_deliveries",
      "account_tokens",
      "uploads",
      "sessions_outbox",
    ]) {
      expect(first[empty], empty).toEqual([]);
    }

    // No production value anywhere in staging: every table's every column, as text.
    const everything = Object.values(first).flat().join("\n").toLowerCase();
    for (const secret of SECRETS) expect(everything, secret).not.toContain(secret.toLowerCase());
    const corpus = [...corpusDocuments(corpusOptions)];
    for (const user of corpusUsers(corpusOptions)) {
      expect(everything).not.toContain(user.email);
      expect(everything).not.toContain(user.username);
    }
    for (const doc of corpus) expect(everything).not.toContain(doc.title.toLowerCase());

    await asSystemSession(targetUrl, async (client) => {
      // Text and titles are filler words only, with the source's word counts.
      const words = new Set(FILLER_WORDS);
      const texts = await client.query<{ text: string; title: string }>(
        "select c.text, d.title from document_content c join documents d on d.id = c.document_id",
      );
      expect(texts.rowCount).toBeGreaterThan(0);
      for (const row of texts.rows) {
        for (const word of `${row.text} ${row.title}`.toLowerCase().split(/\s+/).filter(Boolean)) {
          expect(words.has(word), word).toBe(true);
        }
      }
      const counts = await asSystemSession(sourceUrl, (source) =>
        source.query<{ id: string; words: number }>(
          "select document_id::text as id, array_length(regexp_split_to_array(trim(text), '\\s+'), 1) as words from document_content",
        ),
      );
      const sourceWords = new Map(counts.rows.map((row) => [row.id, row.words]));
      const target = await client.query<{ id: string; text: string }>(
        "select document_id::text as id, text from document_content",
      );
      for (const row of target.rows) expect(row.text.split(" ").length).toBe(sourceWords.get(row.id));

      // Every foreign key holds (checked again here, beyond the constraints the inserts met). Only the
      // tables' own keys: those Postgres derives for each month partition (conparentid) read the
      // partitions directly, which forced row-level security shows empty (migration 0038).
      const keys = await client.query<{ child: string; col: string; parent: string; pcol: string }>(
        `select c.conrelid::regclass::text as child, a.attname as col, c.confrelid::regclass::text as parent, pa.attname as pcol
           from pg_constraint c
           join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
           join pg_attribute pa on pa.attrelid = c.confrelid and pa.attnum = c.confkey[1]
          where c.contype = 'f' and c.connamespace = 'public'::regnamespace and c.conparentid = 0`,
      );
      expect(keys.rowCount).toBeGreaterThan(15);
      for (const key of keys.rows) {
        const orphans = await client.query<{ n: number }>(
          `select count(*)::int as n from ${key.child} x where x.${key.col} is not null and not exists (select 1 from ${key.parent} y where y.${key.pcol} = x.${key.col})`,
        );
        expect(orphans.rows[0]?.n, `${key.child}.${key.col}`).toBe(0);
      }

      // Counts: everything of the sampled users that stays inside the sample.
      const users = (await client.query<{ id: string }>("select id from users")).rows.map((row) => row.id);
      const projects = (await client.query<{ id: string }>("select id from projects")).rows.map((row) => row.id);
      const expected = await asSystemSession(sourceUrl, async (source) => {
        const one = async (sql: string) => (await source.query<{ n: number }>(sql, [users, projects])).rows[0]?.n;
        return {
          projects: await one(
            "select count(distinct project_id)::int as n from project_members where role = 'owner' and user_id = any($1) and $2::uuid[] is not null",
          ),
          documents: await one(
            "select count(*)::int as n from documents where owner_id = any($1) and (project_id is null or project_id = any($2))",
          ),
          shares: await one(
            "select count(*)::int as n from document_shares s join documents d on d.id = s.document_id where s.user_id = any($1) and d.owner_id = any($1) and (d.project_id is null or d.project_id = any($2))",
          ),
          members: await one(
            "select count(*)::int as n from project_members where user_id = any($1) and project_id = any($2)",
          ),
          notifications: await one(
            "select count(*)::int as n from notifications where user_id = any($1) and $2::uuid[] is not null",
          ),
          audit: await one(
            "select count(*)::int as n from audit_events where target_user_id = any($1) and $2::uuid[] is not null",
          ),
        };
      });
      expect(projects.length).toBe(expected.projects);
      // The seed's sample reaches the rows written above, so the search for their values means something.
      const secretUsers = await asSystemSession(sourceUrl, (source) =>
        source.query("select 1 from users where email like 'secret-person-%' and id = any($1)", [users]),
      );
      expect(secretUsers.rowCount).toBeGreaterThan(1);
      expect(projects).toEqual(["11111111-1111-4111-8111-111111111111"]);
      expect(first.documents).toHaveLength(expected.documents ?? -1);
      expect(first.document_versions).toHaveLength(expected.documents ?? -1);
      expect(first.document_search).toHaveLength(expected.documents ?? -1);
      expect(first.document_shares).toHaveLength(expected.shares ?? -1);
      expect(first.project_members).toHaveLength(expected.members ?? -1);
      expect(first.notifications).toHaveLength(expected.notifications ?? -1);
      expect(first.audit_events).toHaveLength(expected.audit ?? -1);
      expect(expected.documents).toBeGreaterThan(5);
      expect(expected.shares).toBeGreaterThan(0);

      // Search answers from the stand-in text; the triggers are back on.
      const doc = target.rows[0];
      const word = doc?.text.split(" ")[0] ?? "";
      const found = await client.query(
        "select 1 from document_search where document_id = $1 and vector @@ plainto_tsquery('english', $2)",
        [doc?.id, word],
      );
      expect(found.rowCount).toBe(1);
      const disabled = await client.query(
        "select tgname from pg_trigger where not tgisinternal and tgenabled <> 'O' and tgrelid::regclass::text not like 'pg_%'",
      );
      expect(disabled.rows).toEqual([]);

      // Each version's object is its placeholder: the row's digest, the extracted text's words.
      const version = await client.query<{ storage_key: string; sha256: string; size_bytes: number; text: string }>(
        `select v.storage_key, v.sha256, v.size_bytes, c.text from document_versions v
           join document_content c using (document_id, version) order by v.document_id limit 1`,
      );
      const row = version.rows[0];
      const { client: storage, bucket } = s3();
      const object = await storage.send(new GetObjectCommand({ Bucket: bucket, Key: row?.storage_key }));
      const body = Buffer.from((await object.Body?.transformToByteArray()) ?? []);
      expect(createHash("sha256").update(body).digest("hex")).toBe(row?.sha256);
      expect(body.byteLength).toBe(Number(row?.size_bytes));
      expect(body.toString()).toContain(row?.text);

      // Sign-in: every sampled user has the staging password's hash, the one that
      // test/unit/staging-password.test.ts verifies with the application's hasher.
      const hashes = await client.query<{ password_hash: string }>("select distinct password_hash from users");
      const salt = new Uint8Array(Buffer.from(new Pseudonyms("first").hex("password-salt").slice(0, 32), "hex"));
      expect(hashes.rows).toEqual([{ password_hash: await stagingPasswordHash(DEFAULT_STAGING_PASSWORD, salt) }]);
      expect(hashes.rows[0]?.password_hash).not.toBe(await stagingPasswordHash(CORPUS_PASSWORD, salt));

      const marker = await client.query<{ comment: string }>(
        "select shobj_description(oid, 'pg_database') as comment from pg_database where datname = current_database()",
      );
      expect(marker.rows[0]?.comment).toBe(STAGING_MARKER);
    });
  }, 120_000);

  it("writes the same staging for the same seed, and another for another seed", async () => {
    await refresh();
    expect(await dump(targetUrl)).toEqual(first);
    await refresh({ seed: "second" });
    const other = await dump(targetUrl);
    expect(other.users).not.toEqual(first.users);
    expect(other.users).toHaveLength(10);
    expect(other.document_content).not.toEqual(first.document_content);
  }, 120_000);

  it("refuses the source as target, a missing flag, and a database no refresh marked", async () => {
    await expect(refresh({ targetUrl: sourceUrl })).rejects.toThrow(/is the source/);
    await expect(refresh({ targetEnvironment: undefined })).rejects.toThrow(RefreshRefused);
    await expect(refresh({ productionUrl: targetUrl })).rejects.toThrow(/PRODUCTION_DATABASE_URL/);

    const other = await createDatabase("someone_elses");
    await applyMigrations(other);
    await asSystemSession(other, (client) =>
      client.query("insert into users (email, username, password_hash) values ('keep@example.com', 'keep', '!')"),
    );
    await expect(refresh({ targetUrl: other })).rejects.toThrow(/never refreshed/);
    const kept = await asSystemSession(other, (client) => client.query("select email from users"));
    expect(kept.rows).toEqual([{ email: "keep@example.com" }]);
  }, 120_000);

  it("refuses, as a command, a staging bucket it cannot reach before writing anything", async () => {
    const before = await dump(targetUrl);
    const stack = inject("stack");
    const refused = await promisify(execFile)(
      process.execPath,
      ["scripts/staging-refresh.ts", "--target-environment", "staging", "--users", "10"],
      {
        env: {
          ...process.env,
          SOURCE_DATABASE_URL: sourceUrl,
          DATABASE_URL_UNPOOLED: targetUrl,
          S3_ENDPOINT: stack.S3_ENDPOINT,
          S3_FORCE_PATH_STYLE: "true",
          S3_ACCESS_KEY_ID: stack.S3_ACCESS_KEY_ID,
          S3_SECRET_ACCESS_KEY: stack.S3_SECRET_ACCESS_KEY,
          S3_BUCKET: `no-such-staging-bucket-${randomUUID().slice(0, 8)}`,
        },
      },
    ).then(
      () => ({ code: 0, stderr: "" }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /^\[staging\] refused: staging's bucket "no-such-staging-bucket-[0-9a-f]+" cannot be reached: /,
    );
    expect(await dump(targetUrl)).toEqual(before);
  }, 120_000);
});
