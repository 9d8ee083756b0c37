import { eq, sql } from "drizzle-orm";
import { afterEach, describe, expect, inject, it } from "vitest";
import { asActor, SYSTEM } from "../../src/db/actor.ts";
import { openDatabase } from "../../src/db/client.ts";
import { documents, documentVersions } from "../../src/db/schema/documents.ts";
import { signedIn } from "../auth-helpers.ts";
import { created, processed, rawUpload } from "../document-helpers.ts";
import { png } from "../fixtures/files.ts";
import { api, apiWith, asSystem, eventually, expectProblem, outage, outageBindings, outageUser } from "../helpers.ts";

// OWASP API8:2023 / ASVS V8.2.1: a response made for one caller is never stored by a shared cache
// or kept on disk by a browser. Resources with validators stay revalidatable (`private, no-cache`).
describe("Cache-Control on responses made for a caller", () => {
  it("is no-store on an authenticated JSON response without validators", async () => {
    const { auth } = await signedIn();
    const res = await api("/auth/sessions", { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("keeps private, no-cache where the route gives validators (the caller's own profile)", async () => {
    const { auth } = await signedIn();
    const res = await api("/users/me", { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get("etag")).toBeTruthy();
    expect(res.headers.get("cache-control")).toBe("private, no-cache");
  });

  it("is no-store on errors answered to a caller with credentials, a refused token included", async () => {
    const { auth } = await signedIn();
    const missing = await api(`/documents/${crypto.randomUUID()}`, { headers: auth });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("cache-control")).toBe("no-store");

    const refused = await api("/users/me", { headers: { authorization: "Bearer not.a.token" } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("cache-control")).toBe("no-store");
  });

  it("is no-store on search results, which differ per caller", async () => {
    const { auth } = await signedIn();
    const res = await api("/search?q=report", { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("leaves anonymous public responses to their routes (the discovery document stays cacheable)", async () => {
    const res = await api("/.well-known/jwks.json");
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("public, max-age=300");
  });
});

// A version's content and its thumbnail never change under their ETag (the SHA-256 of the bytes),
// yet access to them can be revoked and a version quarantined after it was served. So they are
// kept only by the caller's own cache and revalidated on every use: the revalidation is the
// access check, and a 304 costs no object-store request.
describe("Cache-Control on a version's content, its conversions and its thumbnail", () => {
  const REVALIDATED = "private, no-cache";

  async function readyDocument(auth: Record<string, string>, body: Uint8Array | string, type: string) {
    const doc = await created(rawUpload(auth, body, type, { title: "cached" }));
    return processed(auth, doc.id);
  }

  /** The 200, then a 304 to its ETag: both with the same caching headers and validators. */
  async function revalidated(auth: Record<string, string>, path: string) {
    const full = await api(path, { headers: auth });
    expect(full.status, path).toBe(200);
    await full.arrayBuffer();
    const etag = full.headers.get("etag") ?? "";
    const notModified = await api(path, { headers: { ...auth, "if-none-match": etag } });
    expect(notModified.status, path).toBe(304);
    for (const res of [full, notModified]) {
      expect(res.headers.get("cache-control"), path).toBe(REVALIDATED);
      // Chosen by the URL (version, format, disposition), never by a request header: no Vary on
      // Authorization (the revalidation checks access) nor Accept (formats are a query parameter);
      // only CORS's Origin.
      expect(res.headers.get("vary"), path).toBe("Origin");
    }
    expect(notModified.headers.get("etag")).toBe(etag);
    expect(notModified.headers.get("last-modified")).toBe(full.headers.get("last-modified"));
    return { etag, full };
  }

  it("a version's bytes: private, no-cache, the SHA-256 as strong ETag, on 200, 206 and 304", async () => {
    const { auth } = await signedIn();
    const doc = await readyDocument(auth, "some text to keep", "text/plain");
    const { etag } = await revalidated(auth, `/documents/${doc.id}/content`);
    expect(etag).toBe(`"${doc.sha256}"`);
    await revalidated(auth, `/documents/${doc.id}/content?version=1`);
    const part = await api(`/documents/${doc.id}/content`, { headers: { ...auth, range: "bytes=0-3" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("cache-control")).toBe(REVALIDATED);
    expect(part.headers.get("etag")).toBe(etag);
    await part.arrayBuffer();
  });

  it("converted content and thumbnails: the same rules, with their own weak ETags", async () => {
    const { auth } = await signedIn();
    const markdown = await readyDocument(auth, "# Title\n\nSome *text*.\n", "text/markdown");
    expect((await revalidated(auth, `/documents/${markdown.id}/content?format=html`)).etag).toMatch(/^W\//);
    const image = await readyDocument(auth, png(64, 48), "image/png");
    expect((await revalidated(auth, `/documents/${image.id}/content?format=webp`)).etag).toMatch(/^W\//);
    expect((await revalidated(auth, `/documents/${image.id}/thumbnail`)).etag).toMatch(/^W\//);
  });

  it("a revalidation checks access again: once unshared, the same ETag gets 404, not 304", async () => {
    const owner = await signedIn();
    const reader = await signedIn();
    const doc = await readyDocument(owner.auth, "shared for a while", "text/plain");
    const share = await api(`/documents/${doc.id}/shares`, {
      method: "PUT",
      headers: { ...owner.auth, "content-type": "application/json" },
      body: JSON.stringify({ user: reader.user.username, access: "read" }),
    });
    expect(share.status).toBe(200);
    const { etag } = await revalidated(reader.auth, `/documents/${doc.id}/content`);
    const unshare = await api(`/documents/${doc.id}/shares/${reader.user.id}`, {
      method: "DELETE",
      headers: owner.auth,
    });
    expect(unshare.status).toBe(204);
    const after = await api(`/documents/${doc.id}/content`, { headers: { ...reader.auth, "if-none-match": etag } });
    await expectProblem(after, 404);
  });
});

describe("a 304 for content, a conversion or a thumbnail never reaches the object store", () => {
  const outageEnv = outageBindings() as Record<string, string>;
  afterEach(async () => {
    await outage("s3", "start");
  });

  /** Marks the document's first version scanned and ready with a thumbnail key, as the processor would. */
  async function markProcessed(documentId: string): Promise<void> {
    const handle = openDatabase({
      url: outageEnv.DATABASE_URL ?? "",
      localProxy: outageEnv.NEON_LOCAL_PROXY,
      timeoutMs: 10_000,
    });
    try {
      await asActor(handle.db, SYSTEM, async (tx) => {
        await tx
          .update(documentVersions)
          .set({ status: "ready", scanResult: "clean", thumbnailKey: `thumbnails/${documentId}/1.webp` })
          .where(eq(documentVersions.documentId, documentId));
        await tx.update(documents).set({ status: "ready", scanResult: "clean" }).where(eq(documents.id, documentId));
      });
    } finally {
      await handle.close();
    }
  }

  it("answers 304 with S3 stopped, where a full answer is a 503", async () => {
    const auth = await outageUser();
    const res = await apiWith(outageEnv, "/documents?title=notes", {
      method: "POST",
      headers: { ...auth, "content-type": "text/markdown", "content-length": "8" },
      body: "# notes\n",
    });
    expect(res.status).toBe(201);
    const doc = (await res.json()) as { id: string; sha256: string };
    await markProcessed(doc.id);
    const html = await apiWith(outageEnv, `/documents/${doc.id}/content?format=html`, { headers: auth });
    expect(html.status).toBe(200);
    const htmlTag = html.headers.get("etag") ?? "";
    await html.arrayBuffer();
    const thumbnailTag = `W/"thumbnail-${doc.sha256}"`;

    await outage("s3", "stop");
    const revalidate = (path: string, etag: string) =>
      apiWith(outageEnv, path, { headers: { ...auth, "if-none-match": etag } });
    expect((await revalidate(`/documents/${doc.id}/content`, `"${doc.sha256}"`)).status).toBe(304);
    expect((await revalidate(`/documents/${doc.id}/content?format=html`, htmlTag)).status).toBe(304);
    expect((await revalidate(`/documents/${doc.id}/thumbnail`, thumbnailTag)).status).toBe(304);
    // The store is really gone: without a matching validator each of them needs it.
    await expectProblem(await apiWith(outageEnv, `/documents/${doc.id}/content`, { headers: auth }), 503);
    await expectProblem(await apiWith(outageEnv, `/documents/${doc.id}/thumbnail`, { headers: auth }), 503);
  });
});

describe("what a revalidation costs, counted by the stack's meter", () => {
  // Provided by test/global-setup.ts, whose ProvidedContext declaration the workers' tsconfig does not see.
  const meterUrl = (inject as (key: string) => unknown)("meterUrl") as string;
  type Counts = Record<"postgres" | "redis" | "s3", { roundTrips: number; sequential: number }>;

  it("a 304 for content or a thumbnail is one Postgres round trip (the access check) and no S3 request", async () => {
    const { auth } = await signedIn();
    const doc = await processed(auth, (await created(rawUpload(auth, png(64, 48), "image/png", { title: "t" }))).id);
    // Processing ends with the "ready" notification: once it is stored, nothing else touches Postgres.
    await eventually(async () => {
      const page = (await (await api("/notifications", { headers: auth })).json()) as { data: unknown[] };
      return page.data.length > 0 ? page : undefined;
    });
    for (const [path, etag] of [
      [`/documents/${doc.id}/content`, `"${doc.sha256}"`],
      [`/documents/${doc.id}/thumbnail`, `W/"thumbnail-${doc.sha256}"`],
    ] as const) {
      expect((await fetch(`${meterUrl}/round-trips/reset`, { method: "POST" })).status).toBe(204);
      const res = await api(path, { headers: { ...auth, "if-none-match": etag } });
      expect(res.status, path).toBe(304);
      const counts = (await (await fetch(`${meterUrl}/round-trips`)).json()) as Counts;
      expect(counts.postgres.roundTrips, path).toBe(1);
      expect(counts.s3.roundTrips, path).toBe(0);
    }
  });

  it("a Range resumed by the date of a current version after the first adds one Postgres round trip (the version before it)", async () => {
    const { auth } = await signedIn();
    const doc = await created(rawUpload(auth, "first version", "text/plain", { title: "t" }));
    await processed(auth, doc.id);
    await created(rawUpload(auth, "second version", "text/plain", { path: `/documents/${doc.id}/versions` }));
    await processed(auth, doc.id);
    // Processing ends with a "ready" notification per version: once both are stored, nothing else touches Postgres.
    await eventually(async () => {
      const page = (await (await api("/notifications", { headers: auth })).json()) as { data: unknown[] };
      return page.data.length > 1 ? page : undefined;
    });
    // Version 2 made seconds after version 1, so that its date is a strong validator (RFC 9110 §8.8.2.2).
    await asSystem((tx) =>
      tx.execute(
        sql`update document_versions set created_at = created_at + interval '5 seconds' where document_id = ${doc.id} and version = 2`,
      ),
    );
    const full = await api(`/documents/${doc.id}/content`, { headers: auth });
    await full.body?.cancel();
    expect((await fetch(`${meterUrl}/round-trips/reset`, { method: "POST" })).status).toBe(204);
    const resumed = await api(`/documents/${doc.id}/content`, {
      headers: { ...auth, range: "bytes=0-2", "if-range": full.headers.get("last-modified") ?? "" },
    });
    expect(resumed.status).toBe(206);
    await resumed.body?.cancel();
    const counts = (await (await fetch(`${meterUrl}/round-trips`)).json()) as Counts;
    // Access and the version in one HTTP batch, then the version before it in a second one.
    expect(counts.postgres.roundTrips).toBe(2);
  });
});
