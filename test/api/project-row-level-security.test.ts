import { and, eq, inArray, type SQL, sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { type Actor, asActor, batchAsActor, SYSTEM, type Transaction } from "../../src/db/actor.ts";
import { openDatabase } from "../../src/db/client.ts";
import { serverError } from "../../src/db/errors.ts";
import { insertUser } from "../../src/db/queries/users.ts";
import { documentContent, documentShares, documents, documentVersions } from "../../src/db/schema/documents.ts";
import { notifications } from "../../src/db/schema/notifications.ts";
import {
  type InvitableRole,
  type ProjectRole,
  projectInvitations,
  projectMembers,
  projects,
} from "../../src/db/schema/projects.ts";
import { documentSearch } from "../../src/db/schema/search.ts";
import { loadApiConfig } from "../../src/pkg/config/config.ts";
import { uniqueName } from "../auth-helpers.ts";
import { driverModes, type Mode } from "../driver-modes.ts";
import { testEnv } from "../helpers.ts";

// The row-level security of projects (issue 14) straight at the database, with the role and
// connection the workers use: projects, their members and invitations, the documents filed in them
// with their versions, text, shares and search index rows, and notifications. Statements are raw
// drizzle on the schema's tables, so what is proved is the policies and triggers of migration 0025,
// whatever the queries above them do.
const config = loadApiConfig(testEnv).database;
const handle = openDatabase(config);
const db = handle.db;
afterAll(() => handle.close());

const MODES = driverModes(handle);

const asUser = (id: string): Actor => ({ kind: "user", userId: id, role: "user", permissions: [] });

/** `work` in one WebSocket transaction as the plain user `id`. */
const as = <T>(id: string, work: (tx: Transaction) => Promise<T>) => asActor(db, asUser(id), work);
const asSystem = <T>(work: (tx: Transaction) => Promise<T>) => asActor(db, SYSTEM, work);

/**
 * How `work` ended: "ok", or the SQLSTATE Postgres refused it with, followed by the constraint the
 * error names if any ("23514 project_members_owner"). A WebSocket transaction's error surfaces on
 * its statement, or at COMMIT for a deferred constraint trigger; both end up here. Anything that is
 * not the server's refusal is rethrown.
 */
async function outcome(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (error) {
    const server = serverError(error);
    if (!server) throw error;
    return [server.code, server.constraint].filter(Boolean).join(" ");
  }
  return "ok";
}

const OWNER_KEPT = "23514 project_members_owner";
const REFUSED = "42501";

async function newUser(): Promise<string> {
  const name = uniqueName("prls");
  const user = await asSystem((tx) =>
    insertUser(tx, { email: `${name}@example.com`, username: name, passwordHash: "!" }),
  );
  return user.id;
}

const projectRow = (id: string, createdBy: string) => {
  const slug = uniqueName("p");
  return { id, slug, name: slug, createdBy };
};

/** A project as the app creates it: `owner` inserts it and claims it as owner in one transaction. */
async function newProject(owner: string): Promise<string> {
  const id = crypto.randomUUID();
  await as(owner, async (tx) => {
    await tx.insert(projects).values(projectRow(id, owner));
    await tx.insert(projectMembers).values({ projectId: id, userId: owner, role: "owner", addedBy: owner });
  });
  return id;
}

/** Staff puts a member in directly (the third way in). */
async function addMember(projectId: string, userId: string, role: ProjectRole): Promise<void> {
  await asSystem((tx) =>
    tx
      .insert(projectMembers)
      .values({ projectId, userId, role })
      .then(() => undefined),
  );
}

const SHA256 = "0".repeat(64);

const documentRow = (id: string, ownerId: string, projectId: string | null) => ({
  id,
  ownerId,
  projectId,
  title: "quarterly report",
  tags: ["finance"],
  contentType: "text/plain",
  sizeBytes: 5,
  sha256: SHA256,
});

const versionRow = (documentId: string, version: number, createdBy: string) => ({
  documentId,
  version,
  storageKey: `documents/${documentId}/${version}`,
  contentType: "text/plain",
  sizeBytes: 5,
  sha256: SHA256,
  createdBy,
});

/** A document with its first version and that version's text, written by the system (the pipeline). */
async function newDocument(ownerId: string, projectId: string | null): Promise<string> {
  const id = crypto.randomUUID();
  await asSystem(async (tx) => {
    await tx.insert(documents).values(documentRow(id, ownerId, projectId));
    await tx.insert(documentVersions).values(versionRow(id, 1, ownerId));
    await tx.insert(documentContent).values({ documentId: id, version: 1, text: "hello" });
  });
  return id;
}

/** A document `uploader` files in `projectId` themselves (document and first version; the text as the system). */
async function uploadInto(uploader: string, projectId: string | null): Promise<string> {
  const id = crypto.randomUUID();
  await as(uploader, async (tx) => {
    await tx.insert(documents).values(documentRow(id, uploader, projectId));
    await tx.insert(documentVersions).values(versionRow(id, 1, uploader));
  });
  await asSystem((tx) =>
    tx
      .insert(documentContent)
      .values({ documentId: id, version: 1, text: "hello" })
      .then(() => undefined),
  );
  return id;
}

interface Team {
  project: string;
  owner: string;
  admin: string;
  editor: string;
  viewer: string;
  stranger: string;
  /** A document filed in the project (uploaded by the owner), with a version and its text. */
  document: string;
}

async function newTeam(): Promise<Team> {
  const [owner, admin, editor, viewer, stranger] = await Promise.all([
    newUser(),
    newUser(),
    newUser(),
    newUser(),
    newUser(),
  ]);
  const project = await newProject(owner);
  await addMember(project, admin, "admin");
  await addMember(project, editor, "editor");
  await addMember(project, viewer, "viewer");
  const document = await newDocument(owner, project);
  return { project, owner, admin, editor, viewer, stranger, document };
}

/** `by` invites `invitee` (pending; by default for a week, else `expiresAt`), returning the invitation's id. */
async function invite(
  projectId: string,
  by: string,
  inviteeId: string,
  role: InvitableRole,
  expiresAt: SQL = sql`now() + interval '7 days'`,
): Promise<string> {
  const id = crypto.randomUUID();
  await as(by, (tx) =>
    tx
      .insert(projectInvitations)
      .values({ id, projectId, inviteeId, role, invitedBy: by, expiresAt })
      .then(() => undefined),
  );
  return id;
}

/** `user` inserts their own membership: what accepting an invitation writes. */
const join = (projectId: string, userId: string, role: ProjectRole) =>
  as(userId, (tx) =>
    tx
      .insert(projectMembers)
      .values({ projectId, userId, role })
      .then(() => undefined),
  );

/** The invitee accepts: their membership for the invitation's role, then the invitation answered, in one transaction. */
const accept = (invitation: string, projectId: string, userId: string, role: ProjectRole) =>
  as(userId, async (tx) => {
    await tx.insert(projectMembers).values({ projectId, userId, role });
    await tx
      .update(projectInvitations)
      .set({ status: "accepted", respondedAt: sql`now()` })
      .where(eq(projectInvitations.id, invitation));
  });

const answer = (invitation: string, by: string, status: "declined" | "revoked") =>
  as(by, (tx) =>
    tx
      .update(projectInvitations)
      .set({ status, respondedAt: sql`now()` })
      .where(eq(projectInvitations.id, invitation))
      .returning({ id: projectInvitations.id }),
  );

const membersOf = (projectId: string) =>
  asSystem((tx) =>
    tx
      .select({ userId: projectMembers.userId, role: projectMembers.role })
      .from(projectMembers)
      .where(eq(projectMembers.projectId, projectId)),
  );

const roleOf = async (projectId: string, userId: string) =>
  (await membersOf(projectId)).find((member) => member.userId === userId)?.role;

const documentAsSystem = async (id: string) => {
  const [row] = await asSystem((tx) =>
    tx
      .select({
        title: documents.title,
        ownerId: documents.ownerId,
        projectId: documents.projectId,
        currentVersion: documents.currentVersion,
        deletedAt: documents.deletedAt,
      })
      .from(documents)
      .where(eq(documents.id, id)),
  );
  return row;
};

const indexRowAsSystem = async (id: string) => {
  const [row] = await asSystem((tx) =>
    tx
      .select({
        projectId: documentSearch.projectId,
        title: documentSearch.title,
        searchable: documentSearch.searchable,
      })
      .from(documentSearch)
      .where(eq(documentSearch.documentId, id)),
  );
  return row;
};

/** What `user` can read of a project and one of its documents: row counts per table. */
async function seenBy(mode: Mode, user: string, of: { project: string; document: string }) {
  const actor = asUser(user);
  const [project, members, invitations, document, versions, content, shares] = await Promise.all([
    mode.run(actor, (db) => db.select({ id: projects.id }).from(projects).where(eq(projects.id, of.project))),
    mode.run(actor, (db) =>
      db.select({ id: projectMembers.userId }).from(projectMembers).where(eq(projectMembers.projectId, of.project)),
    ),
    mode.run(actor, (db) =>
      db
        .select({ id: projectInvitations.id })
        .from(projectInvitations)
        .where(eq(projectInvitations.projectId, of.project)),
    ),
    mode.run(actor, (db) => db.select({ id: documents.id }).from(documents).where(eq(documents.id, of.document))),
    mode.run(actor, (db) =>
      db
        .select({ v: documentVersions.version })
        .from(documentVersions)
        .where(eq(documentVersions.documentId, of.document)),
    ),
    mode.run(actor, (db) =>
      db
        .select({ v: documentContent.version })
        .from(documentContent)
        .where(eq(documentContent.documentId, of.document)),
    ),
    mode.run(actor, (db) =>
      db.select({ id: documentShares.userId }).from(documentShares).where(eq(documentShares.documentId, of.document)),
    ),
  ]);
  return {
    project: project.length,
    members: members.length,
    invitations: invitations.length,
    document: document.length,
    versions: versions.length,
    content: content.length,
    shares: shares.length,
  };
}

const NOTHING = { project: 0, members: 0, invitations: 0, document: 0, versions: 0, content: 0, shares: 0 };

describe("project row-level security", () => {
  describe.each(MODES)("through $name", (mode) => {
    // The team's project with a pending invitation and a share of its document to an outsider.
    async function sharedTeam() {
      const team = await newTeam();
      const [invitee, holder] = await Promise.all([newUser(), newUser()]);
      await invite(team.project, team.owner, invitee, "viewer");
      await as(team.owner, (tx) =>
        tx
          .insert(documentShares)
          .values({ documentId: team.document, userId: holder, access: "read", grantedBy: team.owner })
          .then(() => undefined),
      );
      return { ...team, invitee, holder };
    }

    it("shows a stranger no project, member, invitation, document, version, text or share", async () => {
      const team = await sharedTeam();
      expect(await seenBy(mode, team.stranger, team)).toEqual(NOTHING);
    });

    it("shows members the project and its documents, and invitations and shares only to owners and admins", async () => {
      const team = await sharedTeam();
      const manager = { project: 1, members: 4, invitations: 1, document: 1, versions: 1, content: 1, shares: 1 };
      const member = { ...manager, invitations: 0, shares: 0 };
      expect(await seenBy(mode, team.owner, team)).toEqual(manager);
      expect(await seenBy(mode, team.admin, team)).toEqual(manager);
      expect(await seenBy(mode, team.editor, team)).toEqual(member);
      expect(await seenBy(mode, team.viewer, team)).toEqual(member);
      // The invitee sees their invitation and nothing of the project yet; the share's holder the
      // shared document and their share, nothing of the project.
      expect(await seenBy(mode, team.invitee, team)).toEqual({ ...NOTHING, invitations: 1 });
      expect(await seenBy(mode, team.holder, team)).toEqual({
        ...NOTHING,
        document: 1,
        versions: 1,
        content: 1,
        shares: 1,
      });
    });

    it("refuses a stranger's membership and a stranger's document in the project", async () => {
      const team = await newTeam();
      const stranger = asUser(team.stranger);
      for (const role of ["owner", "viewer"] as const) {
        expect(
          await outcome(
            mode.run(stranger, (db) =>
              db.insert(projectMembers).values({ projectId: team.project, userId: team.stranger, role }),
            ),
          ),
        ).toBe(REFUSED);
      }
      expect(
        await outcome(
          mode.run(stranger, (db) =>
            db.insert(documents).values(documentRow(crypto.randomUUID(), team.stranger, team.project)),
          ),
        ),
      ).toBe(REFUSED);
      expect((await membersOf(team.project)).map((m) => m.userId)).not.toContain(team.stranger);
    });
  });

  describe("a stranger", () => {
    it("can insert nothing of a project or its documents", async () => {
      const team = await newTeam();
      const { stranger, project, document } = team;
      const attempts: Record<string, (tx: Transaction) => Promise<unknown>> = {
        invitation: (tx) =>
          tx.insert(projectInvitations).values({
            projectId: project,
            inviteeId: stranger,
            role: "admin",
            invitedBy: stranger,
            expiresAt: sql`now() + interval '1 day'`,
          }),
        version: (tx) => tx.insert(documentVersions).values(versionRow(document, 2, stranger)),
        content: (tx) => tx.insert(documentContent).values({ documentId: document, version: 2, text: "x" }),
        share: (tx) =>
          tx
            .insert(documentShares)
            .values({ documentId: document, userId: stranger, access: "write", grantedBy: stranger }),
        index: (tx) =>
          tx.insert(documentSearch).values({
            documentId: crypto.randomUUID(),
            ownerId: stranger,
            projectId: project,
            title: "x",
            tags: [],
            contentType: "text/plain",
            createdAt: new Date(),
            searchable: true,
            vector: "",
          }),
      };
      const results: Record<string, string> = {};
      for (const [name, attempt] of Object.entries(attempts)) results[name] = await outcome(as(stranger, attempt));
      expect(results).toEqual({
        invitation: REFUSED,
        version: REFUSED,
        content: REFUSED,
        share: REFUSED,
        index: REFUSED,
      });
    });

    it("changes and deletes nothing of a project or its documents", async () => {
      const team = await newTeam();
      const { stranger, project, document } = team;
      const changed = await as(stranger, async (tx) => ({
        project: await tx
          .update(projects)
          .set({ name: "pwned", archivedAt: sql`now()` })
          .where(eq(projects.id, project))
          .returning({ id: projects.id }),
        projectDeleted: await tx.delete(projects).where(eq(projects.id, project)).returning({ id: projects.id }),
        members: await tx
          .update(projectMembers)
          .set({ role: "viewer" })
          .where(eq(projectMembers.projectId, project))
          .returning({ id: projectMembers.userId }),
        membersDeleted: await tx
          .delete(projectMembers)
          .where(eq(projectMembers.projectId, project))
          .returning({ id: projectMembers.userId }),
        document: await tx
          .update(documents)
          .set({ title: "pwned" })
          .where(eq(documents.id, document))
          .returning({ id: documents.id }),
        documentDeleted: await tx.delete(documents).where(eq(documents.id, document)).returning({ id: documents.id }),
        versions: await tx
          .update(documentVersions)
          .set({ filename: "pwned" })
          .where(eq(documentVersions.documentId, document))
          .returning({ v: documentVersions.version }),
        content: await tx
          .update(documentContent)
          .set({ text: "pwned" })
          .where(eq(documentContent.documentId, document))
          .returning({ v: documentContent.version }),
        index: await tx
          .update(documentSearch)
          .set({ title: "pwned", searchable: false })
          .where(eq(documentSearch.documentId, document))
          .returning({ id: documentSearch.documentId }),
        indexDeleted: await tx
          .delete(documentSearch)
          .where(eq(documentSearch.documentId, document))
          .returning({ id: documentSearch.documentId }),
      }));
      expect(changed).toEqual({
        project: [],
        projectDeleted: [],
        members: [],
        membersDeleted: [],
        document: [],
        documentDeleted: [],
        versions: [],
        content: [],
        index: [],
        indexDeleted: [],
      });
      expect(await membersOf(project)).toHaveLength(4);
      expect(await documentAsSystem(document)).toMatchObject({ title: "quarterly report", deletedAt: null });
      expect(await indexRowAsSystem(document)).toEqual({
        projectId: project,
        title: "quarterly report",
        searchable: true,
      });
    });
  });

  describe("creating a project", () => {
    it("lets the creator claim it as its owner in the same transaction", async () => {
      const alice = await newUser();
      const project = await newProject(alice);
      expect(await membersOf(project)).toEqual([{ userId: alice, role: "owner" }]);
      const seen = await as(alice, (tx) =>
        tx.select({ createdBy: projects.createdBy }).from(projects).where(eq(projects.id, project)),
      );
      expect(seen).toEqual([{ createdBy: alice }]);
    });

    it("fails at commit when the project has no owner (WebSocket)", async () => {
      const alice = await newUser();
      const id = crypto.randomUUID();
      expect(
        await outcome(
          as(alice, (tx) =>
            tx
              .insert(projects)
              .values(projectRow(id, alice))
              .then(() => undefined),
          ),
        ),
      ).toBe(OWNER_KEPT);
      expect(await asSystem((tx) => tx.select({ id: projects.id }).from(projects).where(eq(projects.id, id)))).toEqual(
        [],
      );
    });

    it("fails at commit when the project has no owner (HTTP)", async () => {
      const alice = await newUser();
      const id = crypto.randomUUID();
      expect(
        await outcome(
          batchAsActor(handle.http, asUser(alice), (db) => [db.insert(projects).values(projectRow(id, alice))]),
        ),
      ).toBe(OWNER_KEPT);
      expect(await asSystem((tx) => tx.select({ id: projects.id }).from(projects).where(eq(projects.id, id)))).toEqual(
        [],
      );
    });

    it("commits in one HTTP batch: the project, then the creator's claim", async () => {
      const alice = await newUser();
      const id = crypto.randomUUID();
      await batchAsActor(handle.http, asUser(alice), (db) => [
        db.insert(projects).values(projectRow(id, alice)),
        db.insert(projectMembers).values({ projectId: id, userId: alice, role: "owner", addedBy: alice }),
      ]);
      expect(await membersOf(id)).toEqual([{ userId: alice, role: "owner" }]);
    });

    it("hides the new project from its creator until claimed, so its insert cannot return it", async () => {
      const alice = await newUser();
      const id = crypto.randomUUID();
      expect(
        await outcome(
          as(alice, async (tx) => {
            await tx.insert(projects).values(projectRow(id, alice)).returning({ id: projects.id });
            await tx.insert(projectMembers).values({ projectId: id, userId: alice, role: "owner" });
          }),
        ),
      ).toBe(REFUSED);
    });

    it("refuses a project created in someone else's name", async () => {
      const [alice, bob] = await Promise.all([newUser(), newUser()]);
      const id = crypto.randomUUID();
      expect(
        await outcome(
          as(bob, async (tx) => {
            await tx.insert(projects).values(projectRow(id, alice));
            await tx.insert(projectMembers).values({ projectId: id, userId: bob, role: "owner" });
          }),
        ),
      ).toBe(REFUSED);
    });

    it("lets nobody else claim someone's project as owner", async () => {
      const [alice, bob] = await Promise.all([newUser(), newUser()]);
      const project = await newProject(alice);
      expect(await outcome(join(project, bob, "owner"))).toBe(REFUSED);
      expect(await membersOf(project)).toEqual([{ userId: alice, role: "owner" }]);
    });

    it("lets the creator claim it only while it has no member: not back after leaving", async () => {
      const [alice, bob] = await Promise.all([newUser(), newUser()]);
      const project = await newProject(alice);
      await addMember(project, bob, "admin");
      await as(alice, async (tx) => {
        await tx
          .update(projectMembers)
          .set({ role: "owner" })
          .where(and(eq(projectMembers.projectId, project), eq(projectMembers.userId, bob)));
        await tx
          .delete(projectMembers)
          .where(and(eq(projectMembers.projectId, project), eq(projectMembers.userId, alice)));
      });
      expect(await outcome(join(project, alice, "owner"))).toBe(REFUSED);
      expect(await membersOf(project)).toEqual([{ userId: bob, role: "owner" }]);
    });
  });

  describe("invitations", () => {
    it("are made by owners and admins only, in their own name", async () => {
      const team = await newTeam();
      const invitees = await Promise.all([newUser(), newUser(), newUser(), newUser(), newUser()]);
      const [a, b, c, d, e] = invitees as [string, string, string, string, string];
      expect(await outcome(invite(team.project, team.owner, a, "admin"))).toBe("ok");
      expect(await outcome(invite(team.project, team.admin, b, "editor"))).toBe("ok");
      expect(await outcome(invite(team.project, team.editor, c, "viewer"))).toBe(REFUSED);
      expect(await outcome(invite(team.project, team.viewer, d, "viewer"))).toBe(REFUSED);
      // An admin cannot sign an invitation with another member's name.
      expect(
        await outcome(
          as(team.admin, (tx) =>
            tx
              .insert(projectInvitations)
              .values({
                projectId: team.project,
                inviteeId: e,
                role: "viewer",
                invitedBy: team.owner,
                expiresAt: sql`now() + interval '1 day'`,
              })
              .then(() => undefined),
          ),
        ),
      ).toBe(REFUSED);
      const pending = await asSystem((tx) =>
        tx
          .select({ inviteeId: projectInvitations.inviteeId })
          .from(projectInvitations)
          .where(eq(projectInvitations.projectId, team.project)),
      );
      expect(pending.map((row) => row.inviteeId).sort()).toEqual([a, b].sort());
    });

    it("are seen by their invitee, who joins for exactly the invited role", async () => {
      const team = await newTeam();
      const invitee = await newUser();
      const invitation = await invite(team.project, team.admin, invitee, "editor");
      const seen = await as(invitee, (tx) =>
        tx
          .select({ id: projectInvitations.id, role: projectInvitations.role, status: projectInvitations.status })
          .from(projectInvitations)
          .where(eq(projectInvitations.inviteeId, invitee)),
      );
      expect(seen).toEqual([{ id: invitation, role: "editor", status: "pending" }]);
      for (const role of ["owner", "admin", "viewer"] as const) {
        expect(await outcome(join(team.project, invitee, role))).toBe(REFUSED);
      }
      expect(await outcome(accept(invitation, team.project, invitee, "editor"))).toBe("ok");
      expect(await roleOf(team.project, invitee)).toBe("editor");
      const project = await as(invitee, (tx) =>
        tx.select({ id: projects.id }).from(projects).where(eq(projects.id, team.project)),
      );
      expect(project).toEqual([{ id: team.project }]);
    });

    it("cannot be used once expired", async () => {
      const team = await newTeam();
      const invitee = await newUser();
      await invite(team.project, team.owner, invitee, "viewer", sql`now() - interval '1 minute'`);
      expect(await outcome(join(team.project, invitee, "viewer"))).toBe(REFUSED);
      expect(await roleOf(team.project, invitee)).toBeUndefined();
    });

    it("cannot be used again once accepted, declined or revoked", async () => {
      const team = await newTeam();
      const [accepted, declined, revoked] = await Promise.all([newUser(), newUser(), newUser()]);
      const first = await invite(team.project, team.owner, accepted, "viewer");
      const second = await invite(team.project, team.owner, declined, "viewer");
      const third = await invite(team.project, team.owner, revoked, "viewer");

      await accept(first, team.project, accepted, "viewer");
      // The member leaves, and tries the accepted invitation again.
      await as(accepted, (tx) =>
        tx
          .delete(projectMembers)
          .where(and(eq(projectMembers.projectId, team.project), eq(projectMembers.userId, accepted)))
          .then(() => undefined),
      );
      expect(await outcome(join(team.project, accepted, "viewer"))).toBe(REFUSED);

      expect(await answer(second, declined, "declined")).toEqual([{ id: second }]);
      expect(await outcome(join(team.project, declined, "viewer"))).toBe(REFUSED);

      expect(await answer(third, team.admin, "revoked")).toEqual([{ id: third }]);
      expect(await outcome(join(team.project, revoked, "viewer"))).toBe(REFUSED);

      const members = (await membersOf(team.project)).map((m) => m.userId);
      expect(members).not.toContain(accepted);
      expect(members).not.toContain(declined);
      expect(members).not.toContain(revoked);
    });

    it("cannot be used by anyone but the invitee", async () => {
      const team = await newTeam();
      const [invitee, other] = await Promise.all([newUser(), newUser()]);
      await invite(team.project, team.owner, invitee, "viewer");
      expect(await outcome(join(team.project, other, "viewer"))).toBe(REFUSED);
      // Nor answered or even seen by them.
      const seen = await as(other, (tx) =>
        tx
          .select({ id: projectInvitations.id })
          .from(projectInvitations)
          .where(eq(projectInvitations.projectId, team.project)),
      );
      expect(seen).toEqual([]);
      expect(await roleOf(team.project, other)).toBeUndefined();
    });

    it("cannot be raised by its invitee to a stronger role", async () => {
      const team = await newTeam();
      const invitee = await newUser();
      const invitation = await invite(team.project, team.owner, invitee, "viewer");
      const raised = await outcome(
        as(invitee, (tx) =>
          tx
            .update(projectInvitations)
            .set({ role: "admin" })
            .where(eq(projectInvitations.id, invitation))
            .then(() => undefined),
        ),
      );
      const joined = await outcome(join(team.project, invitee, "admin"));
      expect({ raised, joined, role: await roleOf(team.project, invitee) }).toEqual({
        raised: REFUSED,
        joined: REFUSED,
        role: undefined,
      });
    });

    it("cannot be redirected by its invitee to another project", async () => {
      const team = await newTeam();
      // Mallory owns a project of her own, invites herself into it as admin, and points the
      // invitation at the team's project.
      const mallory = await newUser();
      const own = await newProject(mallory);
      const invitation = await invite(own, mallory, mallory, "admin");
      const redirected = await outcome(
        as(mallory, (tx) =>
          tx
            .update(projectInvitations)
            .set({ projectId: team.project })
            .where(eq(projectInvitations.id, invitation))
            .then(() => undefined),
        ),
      );
      const joined = await outcome(join(team.project, mallory, "admin"));
      expect({ redirected, joined, role: await roleOf(team.project, mallory) }).toEqual({
        redirected: REFUSED,
        joined: REFUSED,
        role: undefined,
      });
    });

    it("cannot be reopened by its invitee once revoked", async () => {
      const team = await newTeam();
      const invitee = await newUser();
      const invitation = await invite(team.project, team.owner, invitee, "viewer");
      await answer(invitation, team.owner, "revoked");
      const reopened = await outcome(
        as(invitee, (tx) =>
          tx
            .update(projectInvitations)
            .set({ status: "pending", respondedAt: null })
            .where(eq(projectInvitations.id, invitation))
            .then(() => undefined),
        ),
      );
      const joined = await outcome(join(team.project, invitee, "viewer"));
      expect({ reopened, joined, role: await roleOf(team.project, invitee) }).toEqual({
        reopened: REFUSED,
        joined: REFUSED,
        role: undefined,
      });
    });
  });

  describe("roles on documents", () => {
    it("lets a viewer read, but not file, edit or version, a document, nor touch its index row", async () => {
      const team = await newTeam();
      const { viewer, project, document } = team;
      const read = await as(viewer, async (tx) => ({
        document: await tx.select({ id: documents.id }).from(documents).where(eq(documents.id, document)),
        versions: await tx
          .select({ v: documentVersions.version })
          .from(documentVersions)
          .where(eq(documentVersions.documentId, document)),
        content: await tx
          .select({ text: documentContent.text })
          .from(documentContent)
          .where(eq(documentContent.documentId, document)),
      }));
      expect(read).toEqual({ document: [{ id: document }], versions: [{ v: 1 }], content: [{ text: "hello" }] });

      expect(
        await outcome(
          as(viewer, (tx) => tx.insert(documents).values(documentRow(crypto.randomUUID(), viewer, project))),
        ),
      ).toBe(REFUSED);
      expect(
        await outcome(as(viewer, (tx) => tx.insert(documentVersions).values(versionRow(document, 2, viewer)))),
      ).toBe(REFUSED);
      const changed = await as(viewer, async (tx) => ({
        document: await tx
          .update(documents)
          .set({ title: "edited", tags: ["x"] })
          .where(eq(documents.id, document))
          .returning({ id: documents.id }),
        version: await tx
          .update(documentVersions)
          .set({ filename: "edited" })
          .where(eq(documentVersions.documentId, document))
          .returning({ v: documentVersions.version }),
        index: await tx
          .update(documentSearch)
          .set({ title: "edited" })
          .where(eq(documentSearch.documentId, document))
          .returning({ id: documentSearch.documentId }),
        indexDeleted: await tx
          .delete(documentSearch)
          .where(eq(documentSearch.documentId, document))
          .returning({ id: documentSearch.documentId }),
      }));
      expect(changed).toEqual({ document: [], version: [], index: [], indexDeleted: [] });
      expect(await documentAsSystem(document)).toMatchObject({ title: "quarterly report", currentVersion: 1 });
      expect(await indexRowAsSystem(document)).toMatchObject({ title: "quarterly report" });
    });

    it("lets an editor file a document, edit its title and tags and add a version; the index follows", async () => {
      const team = await newTeam();
      const { editor, project } = team;
      const filed = await uploadInto(editor, project);
      expect(await indexRowAsSystem(filed)).toEqual({
        projectId: project,
        title: "quarterly report",
        searchable: true,
      });
      // Filing in someone else's name is refused.
      expect(
        await outcome(
          as(editor, (tx) => tx.insert(documents).values(documentRow(crypto.randomUUID(), team.viewer, project))),
        ),
      ).toBe(REFUSED);

      const edited = await as(editor, (tx) =>
        tx
          .update(documents)
          .set({ title: "edited", tags: ["q3"] })
          .where(eq(documents.id, team.document))
          .returning({ title: documents.title, tags: documents.tags }),
      );
      expect(edited).toEqual([{ title: "edited", tags: ["q3"] }]);
      const versioned = await as(editor, async (tx) => {
        await tx.insert(documentVersions).values(versionRow(team.document, 2, editor));
        return tx
          .update(documents)
          .set({ currentVersion: 2 })
          .where(eq(documents.id, team.document))
          .returning({ currentVersion: documents.currentVersion });
      });
      expect(versioned).toEqual([{ currentVersion: 2 }]);
      expect(await indexRowAsSystem(team.document)).toEqual({ projectId: project, title: "edited", searchable: true });
    });

    it("refuses an editor's soft delete and move with 42501 (documents_guard), and their delete", async () => {
      const team = await newTeam();
      const { editor, document } = team;
      const elsewhere = await newProject(editor);
      const update = (set: Partial<typeof documents.$inferInsert>) =>
        outcome(
          as(editor, (tx) =>
            tx
              .update(documents)
              .set(set)
              .where(eq(documents.id, document))
              .then(() => undefined),
          ),
        );
      expect(await update({ deletedAt: new Date() })).toBe(REFUSED);
      expect(await update({ projectId: null })).toBe(REFUSED);
      expect(await update({ projectId: elsewhere })).toBe(REFUSED);
      // Their own upload, too: the uploader has no rights of their own in a project document.
      const own = await uploadInto(editor, team.project);
      expect(
        await outcome(
          as(editor, (tx) =>
            tx
              .update(documents)
              .set({ deletedAt: new Date() })
              .where(eq(documents.id, own))
              .then(() => undefined),
          ),
        ),
      ).toBe(REFUSED);
      expect(
        await as(editor, (tx) =>
          tx.delete(documents).where(eq(documents.id, document)).returning({ id: documents.id }),
        ),
      ).toEqual([]);
      expect(await documentAsSystem(document)).toMatchObject({ projectId: team.project, deletedAt: null });
      expect(await documentAsSystem(own)).toMatchObject({ projectId: team.project, deletedAt: null });
    });

    it("lets an admin soft-delete and an owner move a document; the index follows", async () => {
      const team = await newTeam();
      const second = await newDocument(team.editor, team.project);
      const deleted = await as(team.admin, (tx) =>
        tx
          .update(documents)
          .set({ deletedAt: new Date() })
          .where(eq(documents.id, team.document))
          .returning({ id: documents.id }),
      );
      expect(deleted).toEqual([{ id: team.document }]);
      expect(await indexRowAsSystem(team.document)).toMatchObject({ searchable: false });

      // Into a project where the owner may write (an editor there).
      const elsewhere = await newProject(team.viewer);
      await addMember(elsewhere, team.owner, "editor");
      const moved = await as(team.owner, (tx) =>
        tx
          .update(documents)
          .set({ projectId: elsewhere })
          .where(eq(documents.id, second))
          .returning({ projectId: documents.projectId }),
      );
      expect(moved).toEqual([{ projectId: elsewhere }]);
      expect(await indexRowAsSystem(second)).toMatchObject({ projectId: elsewhere });
      // The members of the project it left no longer read it; those of the new one do.
      expect(
        await as(team.editor, (tx) => tx.select({ id: documents.id }).from(documents).where(eq(documents.id, second))),
      ).toEqual([]);
      expect(
        await as(team.viewer, (tx) => tx.select({ id: documents.id }).from(documents).where(eq(documents.id, second))),
      ).toEqual([{ id: second }]);
    });

    it("refuses a move into a project where the manager is only a viewer (documents_update)", async () => {
      const team = await newTeam();
      const elsewhere = await newProject(team.stranger);
      await addMember(elsewhere, team.owner, "viewer");
      expect(
        await outcome(
          as(team.owner, (tx) =>
            tx
              .update(documents)
              .set({ projectId: elsewhere })
              .where(eq(documents.id, team.document))
              .then(() => undefined),
          ),
        ),
      ).toBe(REFUSED);
      expect(await documentAsSystem(team.document)).toMatchObject({ projectId: team.project });
    });

    it("refuses a write-share holder's move of a personal document into their own project", async () => {
      const [alice, bob] = await Promise.all([newUser(), newUser()]);
      const document = await newDocument(alice, null);
      await as(alice, (tx) =>
        tx
          .insert(documentShares)
          .values({ documentId: document, userId: bob, access: "write", grantedBy: alice })
          .then(() => undefined),
      );
      const bobs = await newProject(bob);
      // The share lets Bob edit it ...
      expect(
        await as(bob, (tx) =>
          tx
            .update(documents)
            .set({ title: "edited" })
            .where(eq(documents.id, document))
            .returning({ id: documents.id }),
        ),
      ).toEqual([{ id: document }]);
      // ... not take it into his project, nor delete it.
      const update = (set: Partial<typeof documents.$inferInsert>) =>
        outcome(
          as(bob, (tx) =>
            tx
              .update(documents)
              .set(set)
              .where(eq(documents.id, document))
              .then(() => undefined),
          ),
        );
      expect(await update({ projectId: bobs })).toBe(REFUSED);
      expect(await update({ deletedAt: new Date() })).toBe(REFUSED);
      expect(await documentAsSystem(document)).toMatchObject({ ownerId: alice, projectId: null, deletedAt: null });
    });

    it("refuses a write-share holder who makes a personal document theirs (owner_id) to move it after all", async () => {
      const [alice, bob] = await Promise.all([newUser(), newUser()]);
      const document = await newDocument(alice, null);
      await as(alice, (tx) =>
        tx
          .insert(documentShares)
          .values({ documentId: document, userId: bob, access: "write", grantedBy: alice })
          .then(() => undefined),
      );
      const bobs = await newProject(bob);
      const takeOver = await outcome(
        as(bob, (tx) =>
          tx
            .update(documents)
            .set({ ownerId: bob })
            .where(eq(documents.id, document))
            .then(() => undefined),
        ),
      );
      const move = await outcome(
        as(bob, (tx) =>
          tx
            .update(documents)
            .set({ projectId: bobs })
            .where(eq(documents.id, document))
            .then(() => undefined),
        ),
      );
      const stored = await documentAsSystem(document);
      expect({ takeOver, move, ownerId: stored?.ownerId, projectId: stored?.projectId }).toEqual({
        takeOver: REFUSED,
        move: REFUSED,
        ownerId: alice,
        projectId: null,
      });
    });

    it("refuses an editor who names another user the uploader of a project document (owner_id)", async () => {
      const team = await newTeam();
      const own = await uploadInto(team.editor, team.project);
      // owner_id is whose storage quota a document counts against (storage_usage, migration 0021).
      const reassigned = await outcome(
        as(team.editor, (tx) =>
          tx
            .update(documents)
            .set({ ownerId: team.stranger })
            .where(eq(documents.id, own))
            .then(() => undefined),
        ),
      );
      expect({ reassigned, ownerId: (await documentAsSystem(own))?.ownerId }).toEqual({
        reassigned: REFUSED,
        ownerId: team.editor,
      });
    });
  });

  describe("members", () => {
    const member = (projectId: string, userId: string) =>
      and(eq(projectMembers.projectId, projectId), eq(projectMembers.userId, userId));

    it("an admin manages editors and viewers but cannot change or remove an owner, nor make one", async () => {
      const team = await newTeam();
      const { admin, owner, editor, viewer, project } = team;
      const untouched = await as(admin, async (tx) => ({
        demoted: await tx
          .update(projectMembers)
          .set({ role: "viewer" })
          .where(member(project, owner))
          .returning({ id: projectMembers.userId }),
        removed: await tx.delete(projectMembers).where(member(project, owner)).returning({ id: projectMembers.userId }),
      }));
      expect(untouched).toEqual({ demoted: [], removed: [] });
      for (const target of [editor, admin]) {
        expect(
          await outcome(
            as(admin, (tx) =>
              tx
                .update(projectMembers)
                .set({ role: "owner" })
                .where(member(project, target))
                .then(() => undefined),
            ),
          ),
        ).toBe(REFUSED);
      }
      await as(admin, async (tx) => {
        await tx.update(projectMembers).set({ role: "viewer" }).where(member(project, editor));
        await tx.delete(projectMembers).where(member(project, viewer));
      });
      expect(Object.fromEntries((await membersOf(project)).map((m) => [m.userId, m.role]))).toEqual({
        [owner]: "owner",
        [admin]: "admin",
        [editor]: "viewer",
      });
    });

    it("editors and viewers manage nobody", async () => {
      const team = await newTeam();
      for (const actor of [team.editor, team.viewer]) {
        const changed = await as(actor, async (tx) => ({
          raised: await tx
            .update(projectMembers)
            .set({ role: "viewer" })
            .where(member(team.project, team.admin))
            .returning({ id: projectMembers.userId }),
          removed: await tx
            .delete(projectMembers)
            .where(member(team.project, team.admin))
            .returning({ id: projectMembers.userId }),
        }));
        expect(changed).toEqual({ raised: [], removed: [] });
      }
      expect(await roleOf(team.project, team.admin)).toBe("admin");
    });

    it("an owner makes and removes owners", async () => {
      const team = await newTeam();
      const { owner, admin, project } = team;
      await as(owner, (tx) =>
        tx
          .update(projectMembers)
          .set({ role: "owner" })
          .where(member(project, admin))
          .then(() => undefined),
      );
      expect(await roleOf(project, admin)).toBe("owner");
      // The new owner demotes the first one, then removes them.
      await as(admin, (tx) =>
        tx
          .update(projectMembers)
          .set({ role: "editor" })
          .where(member(project, owner))
          .then(() => undefined),
      );
      expect(await roleOf(project, owner)).toBe("editor");
      await as(admin, (tx) =>
        tx
          .delete(projectMembers)
          .where(member(project, owner))
          .then(() => undefined),
      );
      expect(await roleOf(project, owner)).toBeUndefined();
    });

    it("the last owner can neither leave nor be demoted (23514 at commit)", async () => {
      const team = await newTeam();
      const { owner, project } = team;
      expect(
        await outcome(
          as(owner, (tx) =>
            tx
              .delete(projectMembers)
              .where(member(project, owner))
              .then(() => undefined),
          ),
        ),
      ).toBe(OWNER_KEPT);
      expect(
        await outcome(
          as(owner, (tx) =>
            tx
              .update(projectMembers)
              .set({ role: "admin" })
              .where(member(project, owner))
              .then(() => undefined),
          ),
        ),
      ).toBe(OWNER_KEPT);
      expect(await roleOf(project, owner)).toBe("owner");
    });

    it("the last owner's demotion fails at commit in an HTTP batch too", async () => {
      const team = await newTeam();
      expect(
        await outcome(
          batchAsActor(handle.http, asUser(team.owner), (db) => [
            db.update(projectMembers).set({ role: "admin" }).where(member(team.project, team.owner)),
          ]),
        ),
      ).toBe(OWNER_KEPT);
      expect(await roleOf(team.project, team.owner)).toBe("owner");
    });

    it("ownership passes in one transaction: promote another, then step down", async () => {
      const team = await newTeam();
      const { owner, admin, project } = team;
      await as(owner, async (tx) => {
        await tx.update(projectMembers).set({ role: "owner" }).where(member(project, admin));
        await tx.update(projectMembers).set({ role: "admin" }).where(member(project, owner));
      });
      expect(await roleOf(project, admin)).toBe("owner");
      expect(await roleOf(project, owner)).toBe("admin");
    });

    it("nobody is made a member without their consent by rewriting a membership's user", async () => {
      const team = await newTeam();
      const { admin, viewer, stranger, project } = team;
      const rewritten = await outcome(
        as(admin, (tx) =>
          tx
            .update(projectMembers)
            .set({ userId: stranger })
            .where(member(project, viewer))
            .then(() => undefined),
        ),
      );
      expect({ rewritten, stranger: await roleOf(project, stranger), viewer: await roleOf(project, viewer) }).toEqual({
        rewritten: REFUSED,
        stranger: undefined,
        viewer: "viewer",
      });
    });

    it("a removed member at once loses the documents they uploaded into the project", async () => {
      const team = await newTeam();
      const { editor, admin, project } = team;
      const own = await uploadInto(editor, project);
      const readable = () =>
        as(editor, async (tx) => ({
          document: (await tx.select({ id: documents.id }).from(documents).where(eq(documents.id, own))).length,
          versions: (
            await tx
              .select({ v: documentVersions.version })
              .from(documentVersions)
              .where(eq(documentVersions.documentId, own))
          ).length,
          content: (
            await tx
              .select({ v: documentContent.version })
              .from(documentContent)
              .where(eq(documentContent.documentId, own))
          ).length,
          edited: (
            await tx
              .update(documents)
              .set({ title: "still mine" })
              .where(eq(documents.id, own))
              .returning({ id: documents.id })
          ).length,
        }));
      expect(await readable()).toEqual({ document: 1, versions: 1, content: 1, edited: 1 });
      await as(admin, (tx) =>
        tx
          .delete(projectMembers)
          .where(member(project, editor))
          .then(() => undefined),
      );
      expect(await readable()).toEqual({ document: 0, versions: 0, content: 0, edited: 0 });
    });
  });

  describe("an archived project", () => {
    const archive = (projectId: string, by: string) =>
      outcome(
        as(by, (tx) =>
          tx
            .update(projects)
            .set({ archivedAt: new Date() })
            .where(eq(projects.id, projectId))
            .then(() => undefined),
        ),
      );

    it("is archived and deleted by its owners only (projects_guard), its details edited by admins too", async () => {
      const team = await newTeam();
      const { project, admin, editor, owner } = team;
      expect(await archive(project, admin)).toBe(REFUSED);
      expect(
        await outcome(
          as(admin, (tx) =>
            tx
              .update(projects)
              .set({ deletedAt: new Date() })
              .where(eq(projects.id, project))
              .then(() => undefined),
          ),
        ),
      ).toBe(REFUSED);
      expect(
        await as(editor, (tx) =>
          tx
            .update(projects)
            .set({ archivedAt: new Date(), name: "editor's" })
            .where(eq(projects.id, project))
            .returning({ id: projects.id }),
        ),
      ).toEqual([]);
      expect(
        await as(admin, (tx) =>
          tx
            .update(projects)
            .set({ name: "renamed" })
            .where(eq(projects.id, project))
            .returning({ name: projects.name }),
        ),
      ).toEqual([{ name: "renamed" }]);
      // Removing the row is the sweeper's, even for an owner.
      expect(
        await as(owner, (tx) => tx.delete(projects).where(eq(projects.id, project)).returning({ id: projects.id })),
      ).toEqual([]);
      expect(await archive(project, owner)).toBe("ok");
      // Unarchiving too is the owners'.
      const unarchive = (by: string) =>
        outcome(
          as(by, (tx) =>
            tx
              .update(projects)
              .set({ archivedAt: null })
              .where(eq(projects.id, project))
              .then(() => undefined),
          ),
        );
      expect(await unarchive(admin)).toBe(REFUSED);
      expect(await unarchive(owner)).toBe("ok");
    });

    it("stays readable by its members and writable by nobody, not even its owner or a write share", async () => {
      const team = await newTeam();
      const { project, document, owner, admin, editor, viewer, stranger } = team;
      // A write share given while the project was live.
      const holder = await newUser();
      await as(owner, (tx) =>
        tx
          .insert(documentShares)
          .values({ documentId: document, userId: holder, access: "write", grantedBy: owner })
          .then(() => undefined),
      );
      expect(await archive(project, owner)).toBe("ok");
      for (const reader of [owner, viewer, holder]) {
        expect(
          await as(reader, (tx) => tx.select({ id: documents.id }).from(documents).where(eq(documents.id, document))),
        ).toEqual([{ id: document }]);
      }
      for (const writer of [owner, admin, editor, holder]) {
        expect(
          await outcome(
            as(writer, (tx) => tx.insert(documents).values(documentRow(crypto.randomUUID(), writer, project))),
          ),
        ).toBe(REFUSED);
        expect(
          await outcome(as(writer, (tx) => tx.insert(documentVersions).values(versionRow(document, 2, writer)))),
        ).toBe(REFUSED);
        const changed = await as(writer, async (tx) => ({
          edited: await tx
            .update(documents)
            .set({ title: "edited" })
            .where(eq(documents.id, document))
            .returning({ id: documents.id }),
          deleted: await tx
            .update(documents)
            .set({ deletedAt: new Date() })
            .where(eq(documents.id, document))
            .returning({ id: documents.id }),
          removed: await tx.delete(documents).where(eq(documents.id, document)).returning({ id: documents.id }),
        }));
        expect(changed).toEqual({ edited: [], deleted: [], removed: [] });
      }
      expect(
        await outcome(
          as(owner, (tx) =>
            tx
              .insert(documentShares)
              .values({ documentId: document, userId: stranger, access: "read", grantedBy: owner }),
          ),
        ),
      ).toBe(REFUSED);
      expect(await documentAsSystem(document)).toMatchObject({ title: "quarterly report", deletedAt: null });
    });
  });

  describe("a deleted project", () => {
    it("is gone for its members, with its documents", async () => {
      const team = await newTeam();
      const { project, document, owner, editor, viewer } = team;
      await as(owner, (tx) =>
        tx
          .update(projects)
          .set({ deletedAt: new Date() })
          .where(eq(projects.id, project))
          .then(() => undefined),
      );
      for (const reader of [owner, editor, viewer]) {
        expect(await seenBy(MODES[0] as Mode, reader, team)).toMatchObject({
          project: 0,
          document: 0,
          versions: 0,
          content: 0,
        });
      }
      expect(
        await outcome(
          as(editor, (tx) => tx.insert(documents).values(documentRow(crypto.randomUUID(), editor, project))),
        ),
      ).toBe(REFUSED);
      // Undeleting is staff's.
      expect(
        await as(owner, (tx) =>
          tx.update(projects).set({ deletedAt: null }).where(eq(projects.id, project)).returning({ id: projects.id }),
        ),
      ).toEqual([]);
      expect(await documentAsSystem(document)).toMatchObject({ projectId: project, deletedAt: null });
    });
  });

  describe("shares of a project document", () => {
    it("are granted by the project's owners and admins, not by editors, the uploader or viewers", async () => {
      const team = await newTeam();
      const { project, owner, admin, editor, viewer } = team;
      const otherEditor = await newUser();
      await addMember(project, otherEditor, "editor");
      const own = await uploadInto(editor, project);
      const recipients = await Promise.all([newUser(), newUser(), newUser(), newUser(), newUser()]);
      const share = (by: string, to: string) =>
        outcome(
          as(by, (tx) =>
            tx
              .insert(documentShares)
              .values({ documentId: own, userId: to, access: "read", grantedBy: by })
              .then(() => undefined),
          ),
        );
      const [r1, r2, r3, r4, r5] = recipients as [string, string, string, string, string];
      expect({
        owner: await share(owner, r1),
        admin: await share(admin, r2),
        uploader: await share(editor, r3),
        editor: await share(otherEditor, r4),
        viewer: await share(viewer, r5),
      }).toEqual({ owner: "ok", admin: "ok", uploader: REFUSED, editor: REFUSED, viewer: REFUSED });
      const shares = await asSystem((tx) =>
        tx.select({ userId: documentShares.userId }).from(documentShares).where(eq(documentShares.documentId, own)),
      );
      expect(shares.map((s) => s.userId).sort()).toEqual([r1, r2].sort());
      // What the uploader cannot do to another's share either: change its access.
      expect(
        await as(editor, (tx) =>
          tx
            .update(documentShares)
            .set({ access: "write" })
            .where(eq(documentShares.documentId, own))
            .returning({ userId: documentShares.userId }),
        ),
      ).toEqual([]);
    });
  });

  describe("notifications", () => {
    it("are read and marked by their own user only, and created by nobody but the system", async () => {
      const [alice, bob] = await Promise.all([newUser(), newUser()]);
      const notification = (userId: string) => ({
        id: crypto.randomUUID(),
        userId,
        type: "project.invitation",
        title: "You were invited",
        body: "to a project",
        eventId: crypto.randomUUID(),
      });
      const hers = notification(alice);
      const his = notification(bob);
      await asSystem((tx) =>
        tx
          .insert(notifications)
          .values([hers, his])
          .then(() => undefined),
      );
      const both = inArray(notifications.id, [hers.id, his.id]);
      const seen = await as(alice, async (tx) => ({
        read: await tx.select({ id: notifications.id }).from(notifications).where(both),
        marked: await tx
          .update(notifications)
          .set({ readAt: new Date() })
          .where(both)
          .returning({ id: notifications.id }),
        deleted: await tx.delete(notifications).where(eq(notifications.id, his.id)).returning({ id: notifications.id }),
      }));
      expect(seen).toEqual({ read: [{ id: hers.id }], marked: [{ id: hers.id }], deleted: [] });
      // Not handed over to another user, nor created, for herself or anyone.
      expect(
        await outcome(
          as(alice, (tx) =>
            tx
              .update(notifications)
              .set({ userId: bob })
              .where(eq(notifications.id, hers.id))
              .then(() => undefined),
          ),
        ),
      ).toBe(REFUSED);
      for (const target of [alice, bob]) {
        expect(await outcome(as(alice, (tx) => tx.insert(notifications).values(notification(target))))).toBe(REFUSED);
      }
      const stored = await asSystem((tx) =>
        tx
          .select({ id: notifications.id, userId: notifications.userId, readAt: notifications.readAt })
          .from(notifications)
          .where(both),
      );
      const byId = new Map(stored.map((row) => [row.id, row]));
      expect(byId.get(hers.id)).toMatchObject({ userId: alice, readAt: expect.any(Date) });
      expect(byId.get(his.id)).toMatchObject({ userId: bob, readAt: null });
    });
  });
});
