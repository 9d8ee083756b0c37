import { execFile } from "node:child_process";
import { promisify } from "node:util";
import pg from "pg";
import { describe, expect, inject, it } from "vitest";
import { loadBulk } from "../../scripts/corpus/bulk.ts";
import { corpusDocument, corpusDocuments, corpusUsers } from "../../scripts/corpus/generate.ts";
import { freePort } from "../../stack/ports.ts";

describe("the corpus generator", () => {
  it("is deterministic from the seed, and document i does not depend on the corpus size", () => {
    const small = [...corpusDocuments({ seed: 7, count: 50 })];
    const again = [...corpusDocuments({ seed: 7, count: 50 })];
    expect(again).toEqual(small);
    const other = [...corpusDocuments({ seed: 8, count: 50 })];
    expect(other.map((d) => d.title)).not.toEqual(small.map((d) => d.title));
    expect(corpusDocument(7, 10, corpusUsers({ seed: 7, count: 50 }).length)).toEqual(small[10]);
    expect(new Set(small.map((d) => d.id)).size).toBe(50);
    for (const doc of small)
      expect(doc.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it("varies length, tags, owners, formats and dates like real documents", () => {
    const docs = [...corpusDocuments({ seed: 1, count: 2000 })];
    const words = docs.map((d) => d.text.split(/\s+/).length).sort((a, b) => a - b);
    const at = (q: number) => words[Math.floor(q * (words.length - 1))] ?? 0;
    expect(at(0.5)).toBeGreaterThan(100);
    expect(at(0.5)).toBeLessThan(400);
    expect(at(0.99)).toBeGreaterThan(5 * at(0.5));
    expect(at(0)).toBeGreaterThanOrEqual(5);

    const tags = new Set(docs.flatMap((d) => d.tags));
    expect(tags.size).toBeGreaterThan(30);
    expect(docs.every((d) => d.tags.length >= 1 && d.tags.length <= 5)).toBe(true);

    const owners = corpusUsers({ seed: 1, count: 2000 }).length;
    expect(owners).toBe(20);
    const perOwner = new Map<number, number>();
    for (const d of docs) perOwner.set(d.ownerIndex, (perOwner.get(d.ownerIndex) ?? 0) + 1);
    const counts = [...perOwner.values()].sort((a, b) => b - a);
    expect(counts[0]).toBeGreaterThan(3 * (counts[counts.length - 1] ?? 0));

    const types = new Set(docs.map((d) => d.contentType));
    expect(types).toEqual(new Set(["text/plain", "text/markdown", "text/html"]));
    const shared = docs.filter((d) => d.shares.length > 0).length;
    expect(shared / docs.length).toBeGreaterThan(0.03);
    expect(docs.every((d) => d.shares.every((s) => s.userIndex !== d.ownerIndex))).toBe(true);
    const years = new Set(docs.map((d) => d.createdAt.getUTCFullYear()));
    expect(years).toEqual(new Set([2024, 2025]));
  });
});

describe("the bulk loader", () => {
  it("loads users, documents, versions, text and shares as processed documents, indexed for search, once", async () => {
    const databaseUrl = inject("stack").DATABASE_URL_UNPOOLED as string;
    const seed = 1000 + Math.floor(Math.random() * 1_000_000);
    const first = await loadBulk({ seed, count: 120, databaseUrl, batchSize: 50 });
    expect(first).toMatchObject({ users: 3, inserted: 120, skipped: 0 });
    const again = await loadBulk({ seed, count: 150, databaseUrl, batchSize: 50 });
    expect(again).toMatchObject({ inserted: 30, skipped: 120 });

    const docs = [...corpusDocuments({ seed, count: 150 })];
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      await client.query("begin");
      await client.query("select set_config('app.role', 'system', true)");
      const { rows } = await client.query<{ n: number; ready: number; indexed: number; text: number; shares: number }>(
        `select count(*)::int as n,
                count(*) filter (where d.status = 'ready' and d.scan_result = 'clean')::int as ready,
                count(s.document_id)::int as indexed,
                count(c.document_id)::int as text,
                (select count(*)::int from document_shares x where x.document_id = any($1::uuid[])) as shares
         from documents d
         left join document_search s on s.document_id = d.id
         left join document_content c on c.document_id = d.id and c.version = d.current_version
         where d.id = any($1::uuid[])`,
        [docs.map((d) => d.id)],
      );
      expect(rows[0]).toEqual({
        n: 150,
        ready: 150,
        indexed: 150,
        text: 150,
        shares: docs.reduce((sum, d) => sum + d.shares.length, 0),
      });
      // The index holds the text: a word of a document's body finds it.
      const doc = docs[3];
      const word = doc?.text.split(/\W+/).find((w) => w.length > 8) ?? "";
      const found = await client.query(
        "select 1 from document_search where document_id = $1 and vector @@ plainto_tsquery('english', $2)",
        [doc?.id, word],
      );
      expect(found.rowCount).toBe(1);
      await client.query("commit");
    } finally {
      await client.end();
    }
  });
});

describe("npm run corpus:load", () => {
  const load = async (args: string[]) =>
    promisify(execFile)(process.execPath, ["scripts/load-corpus.ts", ...args], {
      // An API nobody answers at (a free port): the load through the API must fail in one line.
      env: { ...process.env, API_URL: `http://127.0.0.1:${await freePort()}` },
    }).then(
      () => ({ code: 0, stderr: "" }),
      (error: { code: number; stderr: string }) => error,
    );

  it("refuses a wrong option with what is wrong and the usage (exit 2)", async () => {
    const refused = await load(["--via", "ftp"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(
      `--via must be bulk or api, not "ftp"\nusage: npm run corpus:load [-- --count 1000] [--seed 1] [--via bulk|api] [--no-files] [--concurrency 4]\n`,
    );
  });

  it("fails in one line, naming the cause, when the API does not answer (exit 1)", async () => {
    const failed = await load(["--via", "api", "--count", "1"]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^\[corpus\] failed: fetch failed \(.*ECONNREFUSED.*\)\n$/);
  });
});
