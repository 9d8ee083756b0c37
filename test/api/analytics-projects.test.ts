import { and, inArray, isNotNull, isNull, notInArray, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { projectActivity, projects } from "../../src/db/schema/projects.ts";
import { promote, signedIn } from "../auth-helpers.ts";
import { created, type DocumentJson, processed, rawUpload } from "../document-helpers.ts";
import { api, asSystem, expectProblem } from "../helpers.ts";
import { type Auth, createProject, expectJson, invite, join, send } from "../project-helpers.ts";

interface ProjectMetrics {
  total: number;
  archived: number;
  active: number;
  largest: { id: string; slug: string; name: string; documents: number; bytes: number; members: number }[];
}

/** A day of its own in the past: no project records activity there unless a test moves it there. */
function pastDay(): { from: Date; to: Date } {
  const day = Date.UTC(2001, 0, 1) + Math.floor(Math.random() * 7000) * 86_400_000;
  return { from: new Date(day), to: new Date(day + 86_400_000) };
}

/**
 * The projects of GET /analytics/metrics over `range`, and the live and archived projects other
 * than `mine` counted straight in the database, both while nobody can create, change or delete a
 * project: the test's transaction holds a SHARE lock on `projects` meanwhile (writers wait, readers
 * such as the report do not). Other test files create projects in the same database at the same
 * time; this is what makes the difference `mine` account for exact.
 */
async function projectsBeside(auth: Auth, range: { from: Date; to: Date }, mine: string[]) {
  return asSystem(async (tx) => {
    await tx.execute(sql`lock table projects in share mode`);
    const query = new URLSearchParams({ from: range.from.toISOString(), to: range.to.toISOString() });
    const metrics = await expectJson<{ projects: ProjectMetrics }>(
      await api(`/analytics/metrics?${query}`, { headers: auth }),
      200,
    );
    const [others] = await tx
      .select({
        total: sql<number>`count(*)::int`,
        archived: sql<number>`count(*) filter (where ${isNotNull(projects.archivedAt)})::int`,
      })
      .from(projects)
      .where(and(isNull(projects.deletedAt), notInArray(projects.id, mine)));
    return { projects: metrics.projects, others: { total: Number(others?.total), archived: Number(others?.archived) } };
  });
}

/** `bytes` bytes of text. */
const textOf = (bytes: number, word: string) => `${word} `.repeat(Math.ceil(bytes / (word.length + 1))).slice(0, bytes);

/** A text document of `bytes` bytes uploaded into the project, once processed. */
async function uploadInto(auth: Auth, projectId: string, bytes: number, word: string): Promise<DocumentJson> {
  const doc = await created(
    rawUpload(auth, textOf(bytes, word), "text/plain", { path: `/documents?projectId=${projectId}&title=${word}` }),
  );
  await processed(auth, doc.id);
  return doc;
}

describe("projects in the business metrics", () => {
  it("count live, archived and active projects and list the largest with their documents, stored bytes and members", async () => {
    const [analyst, owner, editor, invitee] = [await signedIn(), await signedIn(), await signedIn(), await signedIn()];
    await promote(analyst.user.id, { permissions: ["analytics:read"] });
    const range = pastDay();

    const before = await projectsBeside(analyst.auth, range, []);
    expect(before.projects.total).toBe(before.others.total);
    expect(before.projects.archived).toBe(before.others.archived);
    expect(before.projects.active).toBe(0);

    // The largest: two members (an invitation pending is no member), two documents. The first has
    // three versions but two objects (the restored version shares the first's); the third document,
    // larger than all, is deleted.
    const large = await createProject(owner.auth);
    await join(owner.auth, large.id, editor, "editor");
    await invite(owner.auth, large.id, invitee.user.username, "viewer");
    const essay = await uploadInto(editor.auth, large.id, 400_000, "essay");
    const draft = await created(
      rawUpload(editor.auth, textOf(250_001, "draft"), "text/plain", { path: `/documents/${essay.id}/versions` }),
    );
    await processed(editor.auth, essay.id);
    expect((await send(editor.auth, "POST", `/documents/${essay.id}/versions/1/restore`)).status).toBe(201);
    await processed(editor.auth, essay.id);
    const notes = await uploadInto(editor.auth, large.id, 150_003, "notes");
    const dropped = await uploadInto(editor.auth, large.id, 600_000, "dropped");
    expect((await send(owner.auth, "DELETE", `/documents/${dropped.id}`)).status).toBe(204);

    // Archived: still a live project, and it still counts its bytes.
    const archived = await createProject(owner.auth);
    const kept = await uploadInto(owner.auth, archived.id, 300_007, "kept");
    expect((await send(owner.auth, "POST", `/projects/${archived.id}/archive`)).status).toBe(200);

    // Deleted: in no figure, though its activity falls in the range.
    const deleted = await createProject(owner.auth);
    await uploadInto(owner.auth, deleted.id, 700_000, "gone");
    expect((await send(owner.auth, "DELETE", `/projects/${deleted.id}`)).status).toBe(204);

    // Live, with no activity in the range.
    const quiet = await createProject(owner.auth);

    // Every entry of the first three projects' feeds moves into the range (the quiet one's stays today).
    await asSystem((tx) =>
      tx
        .update(projectActivity)
        .set({ createdAt: new Date(range.from.getTime() + 3_600_000) })
        .where(inArray(projectActivity.projectId, [large.id, archived.id, deleted.id])),
    );

    const after = await projectsBeside(analyst.auth, range, [large.id, archived.id, deleted.id, quiet.id]);
    expect(after.projects.total - after.others.total).toBe(3);
    expect(after.projects.archived - after.others.archived).toBe(1);
    expect(after.projects.active).toBe(2);

    const { largest } = after.projects;
    expect(largest.length).toBeLessThanOrEqual(20);
    const bytes = largest.map((p) => p.bytes);
    expect(bytes).toEqual([...bytes].sort((a, b) => b - a));
    expect(largest.find((p) => p.id === large.id)).toEqual({
      id: large.id,
      slug: large.slug,
      name: large.name,
      documents: 2,
      bytes: essay.sizeBytes + draft.sizeBytes + notes.sizeBytes,
      members: 2,
    });
    expect(essay.sizeBytes + draft.sizeBytes + notes.sizeBytes).toBe(400_000 + 250_001 + 150_003);
    expect(largest.find((p) => p.id === archived.id)).toEqual({
      id: archived.id,
      slug: archived.slug,
      name: archived.name,
      documents: 1,
      bytes: kept.sizeBytes,
      members: 1,
    });
    expect(largest.findIndex((p) => p.id === large.id)).toBeLessThan(largest.findIndex((p) => p.id === archived.id));
    expect(largest.map((p) => p.id)).not.toContain(deleted.id);
  });

  it("are refused to a project owner without analytics:read", async () => {
    const owner = await signedIn();
    await createProject(owner.auth);
    await expectProblem(await api("/analytics/metrics", { headers: owner.auth }), 403);
  });
});
