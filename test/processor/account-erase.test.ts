import { eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { requestAccountDeletion } from "../../src/db/queries/accounts.ts";
import { createDocument } from "../../src/db/queries/documents.ts";
import { insertProjectStatements } from "../../src/db/queries/projects.ts";
import { documents } from "../../src/db/schema/documents.ts";
import { projectMembers, projects } from "../../src/db/schema/projects.ts";
import { users } from "../../src/db/schema/users.ts";
import { sha256Hex } from "../fixtures/files.ts";
import { asSystem, batchAsSystem, newUser, runSweep, storage } from "./helpers.ts";

/** A deletion asked for outside any request (the sweeper's tests have none). */
const NO_ORIGIN = { ip: null, userAgent: null, requestId: null };

/** A document of `ownerId` (in `projectId`, or personal) with its object stored. */
async function storedDocument(ownerId: string, projectId: string | null) {
  const id = crypto.randomUUID();
  const bytes = new TextEncoder().encode(`document ${id}`);
  const storageKey = `documents/${id}/${crypto.randomUUID()}`;
  await storage.put(storageKey, bytes, { contentLength: bytes.length, contentType: "text/plain" });
  const file = {
    storageKey,
    contentType: "text/plain",
    sizeBytes: bytes.length,
    sha256: await sha256Hex(bytes),
    filename: null,
  };
  await asSystem((tx) => createDocument(tx, { id, ownerId, projectId, title: `doc ${id}`, tags: [], file }));
  return { id, storageKey };
}

/** A project owned by `owner`, with `members` (user id and role) in it. */
async function projectOf(owner: string, members: { userId: string; role: "owner" | "editor" }[] = []) {
  const id = crypto.randomUUID();
  await asSystem(async (tx) => {
    for (const statement of insertProjectStatements(tx, {
      id,
      slug: `erase-${id.slice(0, 8)}`,
      name: `Project ${id.slice(0, 8)}`,
      description: "",
      settings: {},
      createdBy: owner,
    }))
      await statement;
    for (const member of members) {
      await tx
        .insert(projectMembers)
        .values({ projectId: id, userId: member.userId, role: member.role, addedBy: owner });
    }
  });
  return id;
}

const documentRow = (id: string) =>
  asSystem(async (tx) => (await tx.select().from(documents).where(eq(documents.id, id)))[0]);

describe("the sweeper erases accounts their owners deleted", () => {
  it("happy: personal documents and those of projects it alone owned go with their objects; documents in shared projects pass to an owner; then the account", async () => {
    const leaving = await newUser();
    const partner = await newUser();
    const personal = await storedDocument(leaving, null);
    const soleProject = await projectOf(leaving);
    const inSole = await storedDocument(leaving, soleProject);
    const sharedProject = await projectOf(leaving, [{ userId: partner, role: "owner" }]);
    const inShared = await storedDocument(leaving, sharedProject);
    const partnersProject = await projectOf(partner, [{ userId: leaving, role: "editor" }]);
    const filedWithPartner = await storedDocument(leaving, partnersProject);

    const [marked] = await batchAsSystem(
      (db) => [requestAccountDeletion(db, { userId: leaving, origin: NO_ORIGIN })] as const,
    );
    expect(marked.rows[0]).toEqual({ projects: 1, documents: 2 });
    // Asked twice: nothing more happens.
    const [again] = await batchAsSystem(
      (db) => [requestAccountDeletion(db, { userId: leaving, origin: NO_ORIGIN })] as const,
    );
    expect(again.rows).toEqual([]);
    // Recorded and queued once: by the statement that deleted, not by the one that found it done.
    const recorded = await asSystem((tx) =>
      tx.execute(sql`select action from audit_events where target_user_id = ${leaving} and action = 'user.deleted'`),
    );
    expect(recorded.rows).toHaveLength(1);
    const queued = await asSystem((tx) =>
      tx.execute(sql`select reason from sessions_outbox where user_id = ${leaving}`),
    );
    expect(queued.rows).toEqual([{ reason: "account_deleted" }]);

    await runSweep();

    expect(await asSystem((tx) => tx.select().from(users).where(eq(users.id, leaving)))).toEqual([]);
    for (const gone of [personal, inSole]) {
      expect(await documentRow(gone.id)).toBeUndefined();
      expect(await storage.head(gone.storageKey)).toBeNull();
    }
    for (const kept of [inShared, filedWithPartner]) {
      expect((await documentRow(kept.id))?.ownerId).toBe(partner);
      expect(await storage.head(kept.storageKey)).not.toBeNull();
    }
    const [sole] = await asSystem((tx) => tx.select().from(projects).where(eq(projects.id, soleProject)));
    expect(sole?.deletedAt).not.toBeNull();
    const [shared] = await asSystem((tx) => tx.select().from(projects).where(eq(projects.id, sharedProject)));
    expect(shared?.deletedAt).toBeNull();
  });

  it("error: an account whose deletion was not asked for is left alone, documents and all", async () => {
    const staying = await newUser();
    const personal = await storedDocument(staying, null);
    await asSystem((tx) => tx.update(documents).set({ deletedAt: sql`now()` }).where(eq(documents.id, personal.id)));
    await runSweep();
    expect(await asSystem((tx) => tx.select({ id: users.id }).from(users).where(eq(users.id, staying)))).toHaveLength(
      1,
    );
    // Deleted within the grace: still there.
    expect(await documentRow(personal.id)).toBeDefined();
  });
});
