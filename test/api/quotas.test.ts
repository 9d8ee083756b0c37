import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { signedIn, signedInAdmin } from "../auth-helpers.ts";
import { created, type DocumentJson, keysIn, processed, rawUpload, type VersionJson } from "../document-helpers.ts";
import { png } from "../fixtures/files.ts";
import { apiWith, asSystem, expectProblem, testEnv } from "../helpers.ts";

const stackEnv = testEnv as unknown as Record<string, string>;
type Headers = Record<string, string>;
type Quotas = Partial<Record<"QUOTA_BYTES_PER_USER" | "QUOTA_DOCUMENTS_PER_USER" | "QUOTA_VERSIONS_PER_USER", string>>;

interface QuotaProblem {
  type: string;
  quota: string;
  limit: number;
  used: number;
  requested: number;
}

/** A request to the API with quotas of its own (the shared stack's defaults are far above these). */
const withQuotas = (quotas: Quotas, path: string, init: RequestInit) =>
  apiWith(quotas as Partial<Env> & object, path, init);

function upload(quotas: Quotas, auth: Headers, body: string | ReadableStream<Uint8Array>, path = "/documents") {
  const length = typeof body === "string" ? { "content-length": String(new TextEncoder().encode(body).length) } : {};
  return withQuotas(quotas, path, {
    method: "POST",
    headers: { ...auth, "content-type": "text/plain", ...length },
    body,
    duplex: "half",
  } as RequestInit);
}

async function quotaProblem(res: Response): Promise<QuotaProblem> {
  const problem = (await expectProblem(res, 403)) as unknown as QuotaProblem;
  expect(problem.type).toBe("/problems/quota_exceeded");
  return problem;
}

const streamOf = (text: string) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text));
      controller.close();
    },
  });

async function ownDocuments(auth: Headers, userId: string): Promise<DocumentJson[]> {
  const res = await apiWith({}, `/documents?owner=${userId}&limit=100`, { headers: auth });
  return ((await res.json()) as { data: DocumentJson[] }).data;
}

// OWASP API4:2023 (unrestricted resource consumption): what one user may store is bounded.
describe("per-user storage quotas", () => {
  it("counts documents atomically: of concurrent uploads past the limit exactly the limit pass", async () => {
    const { auth, user } = await signedIn();
    const quotas = { QUOTA_DOCUMENTS_PER_USER: "3" };
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => upload(quotas, auth, `document ${i}`)));
    expect(answers.map((res) => res.status).sort()).toEqual([201, 201, 201, 403, 403, 403]);
    for (const res of answers.filter((answer) => answer.status === 403)) {
      expect(await quotaProblem(res)).toMatchObject({ quota: "documents", limit: 3, requested: 1 });
    }
    expect(await ownDocuments(auth, user.id)).toHaveLength(3);
    // At the limit, refused before a byte is read, naming the figures.
    const again = await quotaProblem(await upload(quotas, auth, "one more"));
    expect(again).toMatchObject({ quota: "documents", limit: 3, used: 3, requested: 1 });
    expect(await ownDocuments(auth, user.id)).toHaveLength(3);
  });

  it("counts bytes of the owner's documents, whoever uploads, and keeps nothing of a refused upload", async () => {
    const owner = await signedIn();
    const editor = await signedIn();
    const quotas = { QUOTA_BYTES_PER_USER: "1000" };
    const doc = await created(upload(quotas, owner.auth, "x".repeat(600)));
    // Declared too large: refused at once, with the figures.
    expect(await quotaProblem(await upload(quotas, owner.auth, "y".repeat(600)))).toMatchObject({
      quota: "bytes",
      limit: 1000,
      used: 600,
      requested: 600,
    });
    // Of unknown length: refused as the stream passes what is left.
    expect(await quotaProblem(await upload(quotas, owner.auth, streamOf("z".repeat(600))))).toMatchObject({
      quota: "bytes",
      used: 600,
    });
    // A write-share editor's new version counts against the owner.
    const share = await apiWith({}, `/documents/${doc.id}/shares`, {
      method: "PUT",
      headers: { ...owner.auth, "content-type": "application/json" },
      body: JSON.stringify({ user: editor.user.username, access: "write" }),
    });
    expect(share.status).toBe(200);
    const version = await upload(quotas, editor.auth, streamOf("e".repeat(500)), `/documents/${doc.id}/versions`);
    expect(await quotaProblem(version)).toMatchObject({ quota: "bytes", limit: 1000, used: 600 });
    expect(await keysIn(stackEnv, `documents/${doc.id}/`)).toHaveLength(1);
    expect(await ownDocuments(owner.auth, owner.user.id)).toHaveLength(1);
    expect(await ownDocuments(editor.auth, editor.user.id)).toHaveLength(0);
  });

  it("checks bytes again when recording: two uploads that each fit but not together, one passes", async () => {
    const { auth, user } = await signedIn();
    const quotas = { QUOTA_BYTES_PER_USER: "1000" };
    const answers = await Promise.all([
      upload(quotas, auth, streamOf("a".repeat(600))),
      upload(quotas, auth, streamOf("b".repeat(600))),
    ]);
    expect(answers.map((res) => res.status).sort()).toEqual([201, 403]);
    const refused = answers.find((res) => res.status === 403);
    if (refused) expect(await quotaProblem(refused)).toMatchObject({ quota: "bytes", used: 600, requested: 600 });
    const [kept] = await ownDocuments(auth, user.id);
    expect(kept?.sizeBytes).toBe(600);
    if (kept) expect(await keysIn(stackEnv, `documents/${kept.id}/`)).toHaveLength(1);
  });

  it("new documents (one HTTP batch) and new versions (a WebSocket transaction) take the same usage lock: exactly what fits passes", async () => {
    const { auth, user } = await signedIn();
    const quotas = { QUOTA_VERSIONS_PER_USER: "4" };
    const doc = await created(upload(quotas, auth, "first"));
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        i % 2 === 0
          ? upload(quotas, auth, `document ${i}`)
          : upload(quotas, auth, `version ${i}`, `/documents/${doc.id}/versions`),
      ),
    );
    expect(answers.map((res) => res.status).sort()).toEqual([201, 201, 201, 403, 403, 403]);
    for (const res of answers.filter((answer) => answer.status === 403)) {
      expect(await quotaProblem(res)).toMatchObject({ quota: "versions", limit: 4, used: 4, requested: 1 });
    }
    const documents = await ownDocuments(auth, user.id);
    const versions = documents.reduce((sum, document) => sum + document.currentVersion, 0);
    expect(versions).toBe(4);
  });

  it("counts versions, restores included", async () => {
    const { auth } = await signedIn();
    const quotas = { QUOTA_VERSIONS_PER_USER: "2" };
    const doc = await created(upload(quotas, auth, "first"));
    expect((await upload(quotas, auth, "second", `/documents/${doc.id}/versions`)).status).toBe(201);
    const restore = await withQuotas(quotas, `/documents/${doc.id}/versions/1/restore`, {
      method: "POST",
      headers: auth,
    });
    expect(await quotaProblem(restore)).toMatchObject({ quota: "versions", limit: 2, used: 2, requested: 1 });
    const third = await upload(quotas, auth, "third", `/documents/${doc.id}/versions`);
    expect(await quotaProblem(third)).toMatchObject({ quota: "versions", used: 2 });
    const list = await apiWith({}, `/documents/${doc.id}/versions`, { headers: auth });
    expect(((await list.json()) as { data: VersionJson[] }).data).toHaveLength(2);
  });

  it("answers 404 and keeps nothing when the owner is deleted while the upload streams", async () => {
    const { auth, user } = await signedIn();
    const started = new Date();
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(new TextEncoder().encode("written before the owner is gone, "));
        await held;
        controller.enqueue(new TextEncoder().encode("and after"));
        controller.close();
      },
    });
    const answer = upload({}, auth, body);
    // The upload has passed its early check once its intent is recorded; then the owner goes.
    const intentKey = async () => {
      const { rows } = await asSystem((tx) =>
        tx.execute<{ key: string }>(
          sql`select storage_key as key from upload_intents where created_at >= ${started.toISOString()}::timestamptz order by created_at desc`,
        ),
      );
      return rows.map((row) => row.key);
    };
    for (let i = 0; i < 200 && (await intentKey()).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    await asSystem((tx) => tx.execute(sql`delete from users where id = ${user.id}::uuid`));
    release();
    const problem = await expectProblem(await answer, 404);
    expect(problem.detail).toBe("The document's owner no longer exists.");
    const left = await asSystem((tx) =>
      tx.execute<{ n: number }>(sql`select count(*)::int as n from documents where owner_id = ${user.id}::uuid`),
    );
    expect(left.rows[0]?.n).toBe(0);
  });

  it("does not bind admins", async () => {
    const admin = await signedInAdmin();
    const quotas = { QUOTA_DOCUMENTS_PER_USER: "1", QUOTA_BYTES_PER_USER: "10", QUOTA_VERSIONS_PER_USER: "1" };
    for (const text of ["an admin's first document", "and a second one"]) {
      expect((await upload(quotas, admin.auth, text)).status).toBe(201);
    }
  });
});

// Restoring a version already processed clean takes over its results: the pipeline (scan,
// extraction, thumbnail) does not run again for bytes it has already seen.
describe("restoring a processed version", () => {
  it("is ready at once with the old version's scan, text and thumbnail", async () => {
    const { auth } = await signedIn();
    const doc = await created(rawUpload(auth, png(64, 32), "image/png", { title: "picture" }));
    await processed(auth, doc.id);
    await created(rawUpload(auth, png(32, 64), "image/png", { path: `/documents/${doc.id}/versions` }));
    await processed(auth, doc.id);
    const text = await created(rawUpload(auth, "words worth finding", "text/plain", { title: "notes" }));
    await processed(auth, text.id);
    await created(rawUpload(auth, "other words", "text/plain", { path: `/documents/${text.id}/versions` }));
    await processed(auth, text.id);

    for (const id of [doc.id, text.id]) {
      const res = await apiWith({}, `/documents/${id}/versions/1/restore`, { method: "POST", headers: auth });
      expect(res.status).toBe(201);
      expect((await res.json()) as DocumentJson).toMatchObject({
        currentVersion: 3,
        status: "ready",
        scanResult: "clean",
      });
      const versions = (
        (await (await apiWith({}, `/documents/${id}/versions`, { headers: auth })).json()) as { data: VersionJson[] }
      ).data;
      const [restored, , first] = versions;
      expect(restored).toMatchObject({
        version: 3,
        restoredFrom: 1,
        status: "ready",
        hasThumbnail: first?.hasThumbnail,
      });
    }
    const thumbnail = await apiWith({}, `/documents/${doc.id}/thumbnail`, { headers: auth });
    expect(thumbnail.status).toBe(200);
    const rows = await asSystem((tx) =>
      tx.execute<{ text: string }>(
        sql`select text from document_content where document_id = ${text.id} and version = 3`,
      ),
    );
    expect(rows.rows.map((row) => row.text)).toEqual(["words worth finding"]);
  });
});

// A restore of a version that was not processed clean runs the pipeline again without a byte sent:
// restores have their own, stricter rate limit (the `processing` policy).
describe("restores are rate-limited", () => {
  it("answers 429 with Retry-After once the processing policy's window is used up", async () => {
    const { auth } = await signedIn();
    const doc = await created(rawUpload(auth, "restore me", "text/plain"));
    const policies = {
      RATE_LIMIT_POLICIES: JSON.stringify({
        api: [{ name: "burst", limit: 1_000_000, windowSeconds: 10 }],
        processing: [{ name: "burst", limit: 2, windowSeconds: 60 }],
      }),
    };
    const restore = () =>
      apiWith(policies as Partial<Env> & object, `/documents/${doc.id}/versions/1/restore`, {
        method: "POST",
        headers: auth,
      });
    expect((await restore()).status).toBe(201);
    expect((await restore()).status).toBe(201);
    const limited = await restore();
    await expectProblem(limited, 429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});
