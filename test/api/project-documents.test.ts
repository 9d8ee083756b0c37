import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { signedIn, signedInAdmin } from "../auth-helpers.ts";
import { type DocumentJson, formUpload, processed } from "../document-helpers.ts";
import { api, apiWith, asSystem, expectProblem } from "../helpers.ts";
import { type Auth, createProject, expectJson, memberOf, removeMember, send, setRole } from "../project-helpers.ts";

type Limits = Partial<Record<"PROJECT_QUOTA_BYTES" | "QUOTA_BYTES_PER_USER" | "QUOTA_DOCUMENTS_PER_USER", string>>;

/** A raw text upload, into `projectId` when given, with limits of its own when given. */
function upload(auth: Auth, text: string, projectId?: string, limits: Limits = {}) {
  const query = projectId ? `?projectId=${projectId}` : "";
  return apiWith(limits as Partial<Env> & object, `/documents${query}`, {
    method: "POST",
    headers: { ...auth, "content-type": "text/plain" },
    body: text,
  });
}

const uploaded = async (auth: Auth, text: string, projectId?: string) =>
  expectJson<DocumentJson & { projectId: string | null }>(await upload(auth, text, projectId), 201);

const move = (auth: Auth, id: string, projectId: string | null, limits: Limits = {}) =>
  apiWith(limits as Partial<Env> & object, `/documents/${id}/move`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ projectId }),
  });

const listIds = async (auth: Auth, query = "") =>
  (
    await expectJson<{ data: DocumentJson[] }>(await api(`/documents?limit=100${query}`, { headers: auth }), 200)
  ).data.map((d) => d.id);

describe("documents filed in a project", () => {
  it("editors upload into it; every member reads; strangers and removed members get 404", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const editor = await memberOf(owner.auth, project.id, "editor");
    const viewer = await memberOf(owner.auth, project.id, "viewer");
    const stranger = await signedIn();

    const doc = await uploaded(editor.auth, "filed by the editor", project.id);
    expect(doc.projectId).toBe(project.id);
    expect(doc.ownerId).toBe(editor.user.id);

    for (const member of [owner, editor, viewer]) {
      expect((await api(`/documents/${doc.id}`, { headers: member.auth })).status).toBe(200);
      expect(await listIds(member.auth, `&project=${project.id}`)).toEqual([doc.id]);
    }
    await expectProblem(await api(`/documents/${doc.id}`, { headers: stranger.auth }), 404);
    expect(await listIds(stranger.auth, `&project=${project.id}`)).toEqual([]);

    // The uploader loses it with their membership: it belongs to the project.
    expect((await removeMember(owner.auth, project.id, editor.user.id)).status).toBe(204);
    await expectProblem(await api(`/documents/${doc.id}`, { headers: editor.auth }), 404);
    expect(await listIds(editor.auth)).not.toContain(doc.id);
    expect(await listIds(editor.auth, "&project=none")).not.toContain(doc.id);
  });

  it("viewers cannot upload, edit or version; editors edit and version but do not delete or move; admins do", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const admin = await memberOf(owner.auth, project.id, "admin");
    const editor = await memberOf(owner.auth, project.id, "editor");
    const viewer = await memberOf(owner.auth, project.id, "viewer");
    const other = await createProject(editor.auth);

    const refused = await expectProblem(await upload(viewer.auth, "not allowed", project.id), 403);
    expect(refused.detail).toMatch(/viewer/);
    const doc = await uploaded(owner.auth, "the owner's", project.id);

    await expectProblem(await send(viewer.auth, "PATCH", `/documents/${doc.id}`, { title: "no" }), 403);
    expect((await send(editor.auth, "PATCH", `/documents/${doc.id}`, { title: "edited" })).status).toBe(200);
    const version = await formUpload(
      editor.auth,
      { bytes: "second version", type: "text/plain", name: "v2.txt" },
      {},
      `/documents/${doc.id}/versions`,
    );
    expect(version.status).toBe(201);
    await expectProblem(
      await formUpload(
        viewer.auth,
        { bytes: "nope", type: "text/plain", name: "v3.txt" },
        {},
        `/documents/${doc.id}/versions`,
      ),
      403,
    );

    await expectProblem(await api(`/documents/${doc.id}`, { method: "DELETE", headers: editor.auth }), 403);
    await expectProblem(await move(editor.auth, doc.id, other.id), 403);
    // An admin deletes a document someone else uploaded.
    expect((await api(`/documents/${doc.id}`, { method: "DELETE", headers: admin.auth })).status).toBe(204);
    await expectProblem(await api(`/documents/${doc.id}`, { headers: owner.auth }), 404);
  });

  it("moves between projects and personal documents, by who manages it where it is and writes where it goes", async () => {
    const alice = await signedIn();
    const first = await createProject(alice.auth);
    const second = await createProject(alice.auth);
    const bob = await memberOf(alice.auth, first.id, "editor");
    const bobsOwn = await createProject(bob.auth);

    const personal = await uploaded(alice.auth, "alice's personal note");
    const movedIn = await expectJson<DocumentJson & { projectId: string }>(
      await move(alice.auth, personal.id, first.id),
      200,
    );
    expect(movedIn.projectId).toBe(first.id);
    expect((await api(`/documents/${personal.id}`, { headers: bob.auth })).status).toBe(200);

    // Bob edits in `first` but does not manage its documents.
    await expectProblem(await move(bob.auth, personal.id, bobsOwn.id), 403);
    // Alice may not file it where she is not a member.
    await expectProblem(await move(alice.auth, personal.id, bobsOwn.id), 404);

    const across = await expectJson<DocumentJson & { projectId: string }>(
      await move(alice.auth, personal.id, second.id),
      200,
    );
    expect(across.projectId).toBe(second.id);
    await expectProblem(await api(`/documents/${personal.id}`, { headers: bob.auth }), 404);
    // Again where it is: nothing changes.
    expect((await move(alice.auth, personal.id, second.id)).status).toBe(200);

    // Bob's upload into `first`, taken out by Alice: it becomes hers.
    const bobs = await uploaded(bob.auth, "bob's contribution", first.id);
    const out = await expectJson<DocumentJson & { projectId: string | null }>(
      await move(alice.auth, bobs.id, null),
      200,
    );
    expect(out.projectId).toBeNull();
    expect(out.ownerId).toBe(alice.user.id);
    await expectProblem(await api(`/documents/${bobs.id}`, { headers: bob.auth }), 404);
  });

  it("an archived project is read-only: no upload, edit, version, move or delete until it is unarchived", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const editor = await memberOf(owner.auth, project.id, "editor");
    const doc = await uploaded(editor.auth, "before the archive", project.id);
    expect((await send(owner.auth, "POST", `/projects/${project.id}/archive`)).status).toBe(200);

    expect((await api(`/documents/${doc.id}`, { headers: editor.auth })).status).toBe(200);
    await expectProblem(await upload(editor.auth, "after", project.id), 409);
    await expectProblem(await send(editor.auth, "PATCH", `/documents/${doc.id}`, { title: "no" }), 409);
    await expectProblem(await send(owner.auth, "PATCH", `/documents/${doc.id}`, { title: "no" }), 409);
    await expectProblem(await api(`/documents/${doc.id}`, { method: "DELETE", headers: owner.auth }), 409);
    await expectProblem(await move(owner.auth, doc.id, null), 409);

    expect((await send(owner.auth, "POST", `/projects/${project.id}/unarchive`)).status).toBe(200);
    expect((await send(editor.auth, "PATCH", `/documents/${doc.id}`, { title: "after" })).status).toBe(200);
  });

  it("keeps the project's documents when their uploader's account is deleted: they pass to an owner", async () => {
    const owner = await signedIn();
    const admin = await signedInAdmin();
    const project = await createProject(owner.auth);
    const editor = await memberOf(owner.auth, project.id, "editor");
    const filed = await uploaded(editor.auth, "stays with the project", project.id);
    const personal = await uploaded(editor.auth, "goes with the account");
    // Deleting while the processor still writes the versions can deadlock with it (503, to retry).
    await processed(editor.auth, filed.id);
    await processed(editor.auth, personal.id);

    expect((await api(`/users/${editor.user.id}`, { method: "DELETE", headers: admin.auth })).status).toBe(204);
    const kept = await expectJson<DocumentJson>(await api(`/documents/${filed.id}`, { headers: owner.auth }), 200);
    expect(kept.ownerId).toBe(owner.user.id);
    await expectProblem(await api(`/documents/${personal.id}`, { headers: admin.auth }), 404);
  });

  it("refuses to delete the account of a project's last owner (409), changing nothing", async () => {
    const owner = await signedIn();
    const admin = await signedInAdmin();
    const project = await createProject(owner.auth);
    await expectProblem(await api(`/users/${owner.user.id}`, { method: "DELETE", headers: admin.auth }), 409);
    expect((await api(`/projects/${project.id}`, { headers: owner.auth })).status).toBe(200);
  });

  it("a role change takes effect on the next request", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const member = await memberOf(owner.auth, project.id, "viewer");
    await expectProblem(await upload(member.auth, "too early", project.id), 403);
    expect((await setRole(owner.auth, project.id, member.user.id, "editor")).status).toBe(200);
    expect((await upload(member.auth, "now allowed", project.id)).status).toBe(201);
  });
});

describe("the project storage quota (PROJECT_QUOTA_BYTES)", () => {
  it("refuses with 413 an upload that would pass it, naming the figures, and stores nothing", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const limits = { PROJECT_QUOTA_BYTES: "20" };
    expect((await upload(owner.auth, "0123456789", project.id, limits)).status).toBe(201);
    const problem = (await expectProblem(
      await upload(owner.auth, "0123456789AB", project.id, limits),
      413,
    )) as unknown as {
      quota: string;
      limit: number;
      used: number;
      requested: number;
      detail: string;
    };
    expect(problem).toMatchObject({ quota: "projectBytes", limit: 20, used: 10 });
    expect(problem.detail).toMatch(/project's storage quota/);
    expect(await listIds(owner.auth, `&project=${project.id}`)).toHaveLength(1);
  });

  it("counts concurrent uploads without races: of six 10-byte uploads under a 30-byte quota exactly three pass", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const limits = { PROJECT_QUOTA_BYTES: "30" };
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) => upload(owner.auth, `document ${i}`.padEnd(10, "."), project.id, limits)),
    );
    expect(answers.map((res) => res.status).sort()).toEqual([201, 201, 201, 413, 413, 413]);
    for (const res of answers.filter((answer) => answer.status === 413)) await expectProblem(res, 413);
    expect(await listIds(owner.auth, `&project=${project.id}`)).toHaveLength(3);
    // Nothing of the refused uploads is left behind: every version row has its document.
    const [row] = await asSystem(
      async (tx) =>
        (
          await tx.execute<{ n: number }>(
            sql`select count(*)::int as n from document_versions v join documents d on d.id = v.document_id where d.project_id = ${project.id}`,
          )
        ).rows,
    );
    expect(row?.n).toBe(3);
  });

  it("counts a project's documents against the project, not against whoever uploaded them", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const editor = await memberOf(owner.auth, project.id, "editor");
    // The editor's personal quota is one document; the project's documents do not use it.
    const limits = { QUOTA_DOCUMENTS_PER_USER: "1" };
    for (const text of ["one", "two", "three"])
      expect((await upload(editor.auth, text, project.id, limits)).status).toBe(201);
    expect((await upload(editor.auth, "personal", undefined, limits)).status).toBe(201);
    await expectProblem(await upload(editor.auth, "personal two", undefined, limits), 403);
  });

  it("checks the quota of where a document moves: a project's (413) or the mover's own (403)", async () => {
    const owner = await signedIn();
    const small = await createProject(owner.auth);
    const doc = await uploaded(owner.auth, "twelve bytes");
    await expectProblem(await move(owner.auth, doc.id, small.id, { PROJECT_QUOTA_BYTES: "5" }), 413);
    expect(
      (
        await expectJson<DocumentJson & { projectId: string | null }>(
          await api(`/documents/${doc.id}`, { headers: owner.auth }),
          200,
        )
      ).projectId,
    ).toBeNull();

    const moved = await move(owner.auth, doc.id, small.id);
    expect(moved.status).toBe(200);
    const taker = await memberOf(owner.auth, small.id, "admin");
    await uploaded(taker.auth, "the taker's own");
    await expectProblem(await move(taker.auth, doc.id, null, { QUOTA_DOCUMENTS_PER_USER: "1" }), 403);
    expect((await move(taker.auth, doc.id, null)).status).toBe(200);
  });
});

describe("resumable uploads into a project", () => {
  const hex = (bytes: ArrayBuffer) => [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");

  async function start(auth: Auth, text: string, projectId: string, limits: Limits = {}) {
    const bytes = new TextEncoder().encode(text);
    const sha256 = hex(await crypto.subtle.digest("SHA-256", bytes));
    const res = await apiWith(limits as Partial<Env> & object, "/uploads", {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ contentType: "text/plain", size: bytes.length, sha256, title: text, projectId }),
    });
    return { res, bytes };
  }

  it("files the completed document in the project; needs a writing role; holds the project's quota", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const viewer = await memberOf(owner.auth, project.id, "viewer");
    const stranger = await signedIn();

    await expectProblem((await start(viewer.auth, "a viewer's", project.id)).res, 403);
    await expectProblem((await start(stranger.auth, "a stranger's", project.id)).res, 404);

    const { res, bytes } = await start(owner.auth, "resumed into the project", project.id);
    const upload = await expectJson<{ id: string; projectId: string | null; documentId: string | null }>(res, 201);
    expect(upload.projectId).toBe(project.id);
    // While it is open, its declared size counts against the project's quota.
    await expectProblem(
      (await start(owner.auth, "does not fit beside it", project.id, { PROJECT_QUOTA_BYTES: String(bytes.length + 5) }))
        .res,
      413,
    );
    const part = await api(`/uploads/${upload.id}/parts/1`, {
      method: "PUT",
      headers: { ...owner.auth, "content-type": "application/octet-stream" },
      body: bytes,
    });
    expect(part.status).toBe(200);
    const done = await expectJson<{ documentId: string }>(
      await api(`/uploads/${upload.id}/complete`, { method: "POST", headers: owner.auth }),
      201,
    );
    const document = await expectJson<DocumentJson & { projectId: string | null }>(
      await api(`/documents/${done.documentId}`, { headers: viewer.auth }),
      200,
    );
    expect(document.projectId).toBe(project.id);
  });
});
