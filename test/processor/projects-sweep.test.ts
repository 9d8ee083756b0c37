import { eq, inArray, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { addVersion, createDocument } from "../../src/db/queries/documents.ts";
import { deleteProjectStatements, insertProjectStatements } from "../../src/db/queries/projects.ts";
import { documents, documentVersions } from "../../src/db/schema/documents.ts";
import { projectActivity, projectInvitations, projectMembers, projects } from "../../src/db/schema/projects.ts";
import { sha256Hex } from "../fixtures/files.ts";
import { asSystem, newUser, runSweep, storage } from "./helpers.ts";

/** A stored object and what a version records of it. */
async function storedFile(documentId: string, body: string) {
  const bytes = new TextEncoder().encode(body);
  const storageKey = `documents/${documentId}/${crypto.randomUUID()}`;
  await storage.put(storageKey, bytes, { contentLength: bytes.length, contentType: "text/plain" });
  return {
    storageKey,
    contentType: "text/plain",
    sizeBytes: bytes.length,
    sha256: await sha256Hex(bytes),
    filename: null,
  };
}

/**
 * A project as the API leaves one: its owner, an editor who uploaded two documents (the first with
 * two versions, each its own object), a pending invitation, and the activity all of that recorded.
 */
async function projectWithDocuments() {
  const [owner, editor, invitee] = [await newUser(), await newUser(), await newUser()];
  const id = crypto.randomUUID();
  const slug = `sweep-${id.slice(0, 8)}`;
  const documentIds = [crypto.randomUUID(), crypto.randomUUID()];
  const files = [
    await storedFile(documentIds[0] as string, "first version"),
    await storedFile(documentIds[0] as string, "second version"),
    await storedFile(documentIds[1] as string, "another document"),
  ];
  await asSystem(async (tx) => {
    for (const statement of insertProjectStatements(tx, {
      id,
      slug,
      name: `Project ${slug}`,
      description: "",
      settings: {},
      createdBy: owner,
    }))
      await statement;
    await tx.insert(projectMembers).values({ projectId: id, userId: editor, role: "editor", addedBy: owner });
    await tx.insert(projectInvitations).values({
      projectId: id,
      inviteeId: invitee,
      role: "viewer",
      invitedBy: owner,
      expiresAt: sql`now() + interval '14 days'`,
    });
    const [first, second] = documentIds as [string, string];
    const [v1, v2, other] = files as [(typeof files)[0], (typeof files)[0], (typeof files)[0]];
    await createDocument(tx, { id: first, ownerId: editor, projectId: id, title: "first", tags: [], file: v1 });
    await addVersion(tx, { documentId: first, createdBy: editor, file: v2 });
    await createDocument(tx, { id: second, ownerId: editor, projectId: id, title: "second", tags: [], file: other });
  });
  return { id, documentIds, storageKeys: files.map((file) => file.storageKey) };
}

type Project = Awaited<ReturnType<typeof projectWithDocuments>>;

/** Deletes the project as DELETE /projects/{id} does (its documents with it), `age` ago. */
async function deletedAgo(project: Project, age: string) {
  await asSystem(async (tx) => {
    const statements = deleteProjectStatements(tx, { id: project.id });
    for (const statement of [statements.asCaller, ...statements.asSystem]) await statement;
    await tx
      .update(projects)
      .set({ deletedAt: sql`now() - ${age}::interval` })
      .where(eq(projects.id, project.id));
    await tx
      .update(documents)
      .set({ deletedAt: sql`now() - ${age}::interval` })
      .where(eq(documents.projectId, project.id));
  });
}

/** What is left of the project in the database, and which of its objects are still stored. */
async function remainsOf(project: Project) {
  const rows = await asSystem(async (tx) => {
    const [counts] = (
      await tx.execute<{ members: number; invitations: number; activity: number; versions: number }>(sql`
        select (select count(*) from ${projectMembers} where project_id = ${project.id})::int as members,
               (select count(*) from ${projectInvitations} where project_id = ${project.id})::int as invitations,
               (select count(*) from ${projectActivity} where project_id = ${project.id})::int as activity,
               (select count(*) from ${documentVersions} where ${inArray(documentVersions.documentId, project.documentIds)})::int as versions`)
    ).rows;
    return {
      project: (await tx.select().from(projects).where(eq(projects.id, project.id)))[0],
      ...counts,
      documents: (await tx.select({ id: documents.id }).from(documents).where(eq(documents.projectId, project.id)))
        .map((row) => row.id)
        .sort(),
    };
  });
  const stored = [];
  for (const key of project.storageKeys) if ((await storage.head(key)) !== null) stored.push(key);
  return { ...rows, stored };
}

describe("the sweeper and deleted projects", () => {
  it("purges a project deleted longer ago than the grace: its documents and objects, then the project with its members, invitations and activity", async () => {
    const project = await projectWithDocuments();
    await deletedAgo(project, "8 days");
    const before = await remainsOf(project);
    expect(before).toMatchObject({ members: 2, invitations: 1, versions: 3, stored: project.storageKeys });
    expect(before.project?.deletedAt).not.toBeNull();
    expect(before.documents).toEqual([...project.documentIds].sort());
    expect(before.activity).toBeGreaterThan(0);

    await runSweep();

    expect(await remainsOf(project)).toEqual({
      project: undefined,
      members: 0,
      invitations: 0,
      activity: 0,
      documents: [],
      versions: 0,
      stored: [],
    });
  });

  it("keeps a project deleted within the grace, with everything it has", async () => {
    const project = await projectWithDocuments();
    await deletedAgo(project, "6 days");
    // No documents to wait for: only the grace keeps this one.
    const empty = await projectWithDocuments();
    await asSystem(async (tx) => {
      await tx.delete(documents).where(eq(documents.projectId, empty.id));
      const statements = deleteProjectStatements(tx, { id: empty.id });
      for (const statement of [statements.asCaller, ...statements.asSystem]) await statement;
      await tx.update(projects).set({ deletedAt: sql`now() - interval '6 days'` }).where(eq(projects.id, empty.id));
    });

    await runSweep();

    const left = await remainsOf(project);
    expect(left).toMatchObject({ members: 2, invitations: 1, versions: 3, stored: project.storageKeys });
    expect(left.project?.deletedAt).not.toBeNull();
    expect(left.documents).toEqual([...project.documentIds].sort());
    expect(await remainsOf(empty)).toMatchObject({ project: { id: empty.id }, members: 2, invitations: 1 });
  });

  it("waits for a project's documents: the project goes in the run after its last document is purged", async () => {
    const project = await projectWithDocuments();
    await deletedAgo(project, "8 days");
    const [purged, late] = project.documentIds as [string, string];
    // One document is not yet due (a document's grace counts from its own deletion).
    await asSystem((tx) =>
      tx.update(documents).set({ deletedAt: sql`now() - interval '1 day'` }).where(eq(documents.id, late)),
    );

    await runSweep();

    const waiting = await remainsOf(project);
    expect(waiting.project?.id).toBe(project.id);
    expect(waiting).toMatchObject({ members: 2, invitations: 1, documents: [late], versions: 1 });
    // The first document's two objects are gone, the late one's object is kept.
    expect(waiting.stored).toEqual([project.storageKeys[2]]);
    expect(waiting.documents).not.toContain(purged);

    await asSystem((tx) =>
      tx.update(documents).set({ deletedAt: sql`now() - interval '8 days'` }).where(eq(documents.id, late)),
    );
    await runSweep();

    expect(await remainsOf(project)).toMatchObject({ project: undefined, members: 0, documents: [], stored: [] });
  });

  it("leaves a live project alone", async () => {
    const project = await projectWithDocuments();
    // Live, yet with an old date on it: only a deletion counts.
    await asSystem((tx) =>
      tx
        .update(projects)
        .set({ createdAt: sql`now() - interval '30 days'`, updatedAt: sql`now() - interval '30 days'` })
        .where(eq(projects.id, project.id)),
    );

    await runSweep();

    const left = await remainsOf(project);
    expect(left).toMatchObject({ members: 2, invitations: 1, versions: 3, stored: project.storageKeys });
    expect(left.project?.deletedAt).toBeNull();
    expect(left.documents).toEqual([...project.documentIds].sort());
    expect(left.activity).toBeGreaterThan(0);
  });
});
