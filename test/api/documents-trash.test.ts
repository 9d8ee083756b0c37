import { eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { purgeDocument } from "../../src/db/queries/documents.ts";
import { documents, documentVersions } from "../../src/db/schema/documents.ts";
import { projectActivity } from "../../src/db/schema/projects.ts";
import { signedIn, signedInAdmin } from "../auth-helpers.ts";
import { created, type DocumentJson, getDocument, keysIn, processed, rawUpload } from "../document-helpers.ts";
import { png } from "../fixtures/files.ts";
import { api, apiWith, asSystem, expectProblem, testEnv } from "../helpers.ts";
import { createProject, expectJson, memberOf, send } from "../project-helpers.ts";
import { search } from "../search-helpers.ts";

const stackEnv = testEnv as unknown as Record<string, string>;
type Headers = Record<string, string>;

interface DeletedJson extends DocumentJson {
  deletedAt: string;
  purgeAt: string;
}
interface TrashPage {
  data: DeletedJson[];
  nextCursor: string | null;
}

const remove = (auth: Headers, id: string) => api(`/documents/${id}`, { method: "DELETE", headers: auth });
const restore = (auth: Headers, id: string) => api(`/documents/${id}/restore`, { method: "POST", headers: auth });

async function trash(auth: Headers, query = ""): Promise<TrashPage> {
  return expectJson<TrashPage>(await api(`/documents/trash${query}`, { headers: auth }), 200);
}

/** Moves a document's deletion back in time, as if it had been deleted `age` ago. */
const deletedAgo = (id: string, age: string) =>
  asSystem((tx) =>
    tx
      .update(documents)
      .set({ deletedAt: sql`now() - ${age}::interval` })
      .where(eq(documents.id, id)),
  );

const titlesFor = async (auth: Headers, q: string) =>
  (await search(auth, { q })).body.data.map((hit) => hit.document.id);

describe("DELETE /documents/{id} then POST /documents/{id}/restore", () => {
  it("keeps every object and thumbnail of a deleted document, hides it everywhere, and brings it back whole", async () => {
    const { auth } = await signedIn();
    const word = `zqtrash${crypto.randomUUID().slice(0, 8)}`;
    const doc = await created(rawUpload(auth, png(120, 80), "image/png", { title: `photo ${word}` }));
    const ready = await processed(auth, doc.id);
    expect(ready.status).toBe("ready");
    const objects = await keysIn(stackEnv, `documents/${doc.id}/`);
    const thumbnails = await keysIn(stackEnv, `documents/${doc.id}/`, stackEnv.S3_THUMBNAILS_BUCKET);
    expect(objects).toHaveLength(1);
    expect(thumbnails).toHaveLength(1);
    expect(await titlesFor(auth, word)).toEqual([doc.id]);

    expect((await remove(auth, doc.id)).status).toBe(204);
    // Gone for every reader...
    for (const path of [
      `/documents/${doc.id}`,
      `/documents/${doc.id}/content`,
      `/documents/${doc.id}/thumbnail`,
      `/documents/${doc.id}/versions`,
    ]) {
      await expectProblem(await api(path, { headers: auth }), 404);
    }
    expect(await titlesFor(auth, word)).toEqual([]);
    const listed = await expectJson<{ data: DocumentJson[] }>(
      await api("/documents?limit=100", { headers: auth }),
      200,
    );
    expect(listed.data.map((d) => d.id)).not.toContain(doc.id);
    // ...but the stored files stay for a restore (read from the S3 server itself).
    expect(await keysIn(stackEnv, `documents/${doc.id}/`)).toEqual(objects);
    expect(await keysIn(stackEnv, `documents/${doc.id}/`, stackEnv.S3_THUMBNAILS_BUCKET)).toEqual(thumbnails);

    const [inTrash] = (await trash(auth)).data;
    expect(inTrash).toMatchObject({ id: doc.id, title: `photo ${word}` });
    const deletedAt = Date.parse(inTrash?.deletedAt ?? "");
    expect(Date.parse(inTrash?.purgeAt ?? "") - deletedAt).toBe(7 * 24 * 60 * 60 * 1000);

    const res = await restore(auth, doc.id);
    const back = await expectJson<DocumentJson>(res, 200);
    expect(back).toMatchObject({ id: doc.id, status: "ready", currentVersion: 1, sha256: doc.sha256 });
    expect(res.headers.get("etag")).toMatch(/^"/);
    expect((await getDocument(auth, doc.id)).id).toBe(doc.id);
    const content = await api(`/documents/${doc.id}/content`, { headers: auth });
    expect(content.status).toBe(200);
    expect(new Uint8Array(await content.arrayBuffer())).toEqual(png(120, 80));
    expect((await api(`/documents/${doc.id}/thumbnail`, { headers: auth })).status).toBe(200);
    expect(await titlesFor(auth, word)).toEqual([doc.id]);
    expect((await trash(auth)).data).toEqual([]);
    // Restored once: a second restore has nothing to bring back.
    expect((await expectProblem(await restore(auth, doc.id), 409)).type).toBe("/problems/conflict");
  });

  it("answers 404 for a document never there, purged, past its grace, or someone else's, and 403 to a reader", async () => {
    const owner = await signedIn();
    const stranger = await signedIn();
    const reader = await signedIn();
    await expectProblem(await restore(owner.auth, crypto.randomUUID()), 404);

    const shared = await created(rawUpload(owner.auth, "shared", "text/plain", { title: "shared" }));
    expect(
      (await send(owner.auth, "PUT", `/documents/${shared.id}/shares`, { user: reader.user.username, access: "write" }))
        .status,
    ).toBe(200);
    expect((await remove(owner.auth, shared.id)).status).toBe(204);
    await expectProblem(await restore(stranger.auth, shared.id), 404);
    await expectProblem(await restore(reader.auth, shared.id), 403);
    expect((await trash(stranger.auth)).data).toEqual([]);
    expect((await trash(reader.auth)).data).toEqual([]);

    const old = await created(rawUpload(owner.auth, "old", "text/plain", { title: "old" }));
    expect((await remove(owner.auth, old.id)).status).toBe(204);
    await deletedAgo(old.id, "7 days 1 minute");
    expect((await expectProblem(await restore(owner.auth, old.id), 404)).detail).toContain("too long ago");
    expect((await trash(owner.auth)).data.map((d) => d.id)).toEqual([shared.id]);

    const purged = await created(rawUpload(owner.auth, "purged", "text/plain", { title: "purged" }));
    expect((await remove(owner.auth, purged.id)).status).toBe(204);
    await asSystem((tx) => purgeDocument(tx, { id: purged.id }));
    await expectProblem(await restore(owner.auth, purged.id), 404);

    // The owner still can; an administrator too.
    expect((await restore(owner.auth, shared.id)).status).toBe(200);
    const admin = await signedInAdmin();
    expect((await remove(owner.auth, shared.id)).status).toBe(204);
    expect((await restore(admin.auth, shared.id)).status).toBe(200);
  });

  it("refuses a restore past the owner's quota, as an upload is refused", async () => {
    const { auth } = await signedIn();
    const quotas = { QUOTA_DOCUMENTS_PER_USER: "1" } as Partial<Env> & object;
    const first = await created(rawUpload(auth, "first", "text/plain", { title: "first" }));
    expect((await remove(auth, first.id)).status).toBe(204);
    // A deleted document does not count: its place is free for another.
    const second = await apiWith(quotas, "/documents?title=second", {
      method: "POST",
      headers: { ...auth, "content-type": "text/plain", "content-length": "6" },
      body: "second",
    });
    expect(second.status).toBe(201);
    const refused = await expectProblem(
      await apiWith(quotas, `/documents/${first.id}/restore`, { method: "POST", headers: auth }),
      403,
    );
    expect(refused).toMatchObject({
      type: "/problems/quota_exceeded",
      quota: "documents",
      limit: 1,
      used: 1,
      requested: 1,
    });
    // Nothing changed: still deleted, still restorable once there is room.
    expect((await trash(auth)).data.map((d) => d.id)).toEqual([first.id]);
    expect((await restore(auth, first.id)).status).toBe(200);
  });

  it("restores a project's document for its owners and admins, records it in the feed, and not while the project is archived", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const editor = await memberOf(owner.auth, project.id, "editor");
    const admin = await memberOf(owner.auth, project.id, "admin");
    const doc = await created(
      rawUpload(editor.auth, "filed", "text/plain", { path: `/documents?projectId=${project.id}&title=filed` }),
    );
    expect((await remove(admin.auth, doc.id)).status).toBe(204);
    await expectProblem(await restore(editor.auth, doc.id), 403);
    expect((await trash(editor.auth)).data).toEqual([]);
    expect((await trash(admin.auth)).data.map((d) => d.id)).toEqual([doc.id]);
    expect((await restore(admin.auth, doc.id)).status).toBe(200);
    const actions = await asSystem((tx) =>
      tx
        .select({ action: projectActivity.action, actorId: projectActivity.actorId })
        .from(projectActivity)
        .where(eq(projectActivity.documentId, doc.id))
        .orderBy(projectActivity.createdAt),
    );
    expect(actions).toEqual([
      { action: "document.uploaded", actorId: editor.user.id },
      { action: "document.deleted", actorId: admin.user.id },
      { action: "document.undeleted", actorId: admin.user.id },
    ]);

    expect((await remove(owner.auth, doc.id)).status).toBe(204);
    expect((await send(owner.auth, "POST", `/projects/${project.id}/archive`)).status).toBe(200);
    await expectProblem(await restore(owner.auth, doc.id), 409);
    const operator = await signedInAdmin();
    await expectProblem(await restore(operator.auth, doc.id), 409);
  });

  it("sends a document whose processing the deletion interrupted through the pipeline again", async () => {
    const { auth } = await signedIn();
    const doc = await created(rawUpload(auth, "interrupted", "text/plain", { title: "interrupted" }));
    await processed(auth, doc.id);
    expect((await remove(auth, doc.id)).status).toBe(204);
    // As the pipeline leaves a version it stops at because its document was deleted (src/processor/documents/pipeline.ts).
    await asSystem(async (tx) => {
      await tx.update(documentVersions).set({ status: "scanning" }).where(eq(documentVersions.documentId, doc.id));
      await tx.update(documents).set({ status: "scanning" }).where(eq(documents.id, doc.id));
    });
    const res = await restore(auth, doc.id);
    const back = await expectJson<DocumentJson>(res, 200);
    expect(back.status).toBe("pending");
    expect(res.headers.get("etag")).toBe((await api(`/documents/${doc.id}`, { headers: auth })).headers.get("etag"));
    expect((await processed(auth, doc.id)).status).toBe("ready");
  });

  it("lists the trash most recently deleted first, a page at a time", async () => {
    const { auth } = await signedIn();
    const ids: string[] = [];
    for (const title of ["a", "b", "c"]) {
      const doc = await created(rawUpload(auth, title, "text/plain", { title }));
      expect((await remove(auth, doc.id)).status).toBe(204);
      ids.push(doc.id);
    }
    const first = await trash(auth, "?limit=2");
    expect(first.data.map((d) => d.id)).toEqual([ids[2], ids[1]]);
    expect(first.nextCursor).not.toBeNull();
    const second = await trash(auth, `?limit=2&cursor=${first.nextCursor}`);
    expect(second.data.map((d) => d.id)).toEqual([ids[0]]);
    expect(second.nextCursor).toBeNull();
    await expectProblem(await api("/documents/trash?cursor=not-ours", { headers: auth }), 400);
  });
});
