import { desc, eq, sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { type Actor, asActor, SYSTEM } from "../../src/db/actor.ts";
import { openDatabase } from "../../src/db/client.ts";
import { serverError } from "../../src/db/errors.ts";
import { documents } from "../../src/db/schema/documents.ts";
import { MANAGERS_ONLY_ACTIONS, projectActivity, projects } from "../../src/db/schema/projects.ts";
import { loadApiConfig } from "../../src/pkg/config/config.ts";
import { signedIn, signedInAdmin, uniqueName } from "../auth-helpers.ts";
import { type DocumentJson, processed, rawUpload } from "../document-helpers.ts";
import { api, expectProblem, testEnv } from "../helpers.ts";

// The activity feed of a project (issue 14): GET /projects/{id}/activity, written by the database's
// triggers (migration 0026) in the transaction of each change, read by members only.

type Auth = Record<string, string>;
type User = Awaited<ReturnType<typeof signedIn>>;

interface ActivityJson {
  id: string;
  action: string;
  actor: { id: string } | null;
  documentId: string | null;
  subjectUserId: string | null;
  details: Record<string, unknown>;
  createdAt: string;
}

interface ActivityPage {
  data: ActivityJson[];
  nextCursor: string | null;
}

const config = loadApiConfig(testEnv).database;
const handle = openDatabase(config);
afterAll(() => handle.close());

function send(auth: Auth, method: string, path: string, body?: unknown): Promise<Response> {
  return api(path, {
    method,
    headers: body === undefined ? auth : { ...auth, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function expectStatus(res: Response, status: number): Promise<string> {
  const text = await res.text();
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${text}`);
  return text;
}

async function json<T>(res: Response, status: number): Promise<T> {
  return JSON.parse(await expectStatus(res, status)) as T;
}

async function createProject(auth: Auth): Promise<{ id: string; slug: string; name: string }> {
  return json(await send(auth, "POST", "/projects", { name: uniqueName("Activity") }), 201);
}

/** `user` invited by `ownerAuth` in `role`, accepting. Returns the invitation's id. */
async function join(ownerAuth: Auth, projectId: string, user: User, role: "admin" | "editor" | "viewer") {
  const invitation = await json<{ id: string }>(
    await send(ownerAuth, "POST", `/projects/${projectId}/invitations`, { login: user.user.username, role }),
    201,
  );
  await expectStatus(await send(user.auth, "POST", `/invitations/${invitation.id}/accept`), 200);
  return invitation.id;
}

/** A text document uploaded into the project (or personal without `projectId`). */
async function upload(auth: Auth, title: string, projectId?: string): Promise<DocumentJson> {
  const query = new URLSearchParams({ title, ...(projectId ? { projectId } : {}) });
  return json(
    await rawUpload(auth, `${title} ${"words ".repeat(20)}`, "text/plain", { path: `/documents?${query}` }),
    201,
  );
}

const activityPath = (projectId: string, query: Record<string, string> = {}) => {
  const qs = new URLSearchParams(query).toString();
  return `/projects/${projectId}/activity${qs ? `?${qs}` : ""}`;
};

/** The whole feed as `auth` reads it, page by page (`limit` a page), newest first. */
async function feed(auth: Auth, projectId: string, query: Record<string, string> = {}): Promise<ActivityJson[]> {
  const all: ActivityJson[] = [];
  let cursor: string | null = null;
  do {
    const page: ActivityPage = await json(
      await send(auth, "GET", activityPath(projectId, { limit: "100", ...query, ...(cursor ? { cursor } : {}) })),
      200,
    );
    all.push(...page.data);
    cursor = page.nextCursor;
  } while (cursor);
  return all;
}

/** The feed oldest first, each entry as `action` plus what a test checks of it. */
const story = (entries: ActivityJson[]) =>
  [...entries].reverse().map((e) => ({
    action: e.action,
    actor: e.actor?.id ?? null,
    subject: e.subjectUserId,
    document: e.documentId,
    details: e.details,
  }));

/** Rows of the feed mentioning the document, in any project, read as the system. */
async function activityOfDocument(documentId: string) {
  return asActor(handle.db, SYSTEM, (tx) =>
    tx.select().from(projectActivity).where(eq(projectActivity.documentId, documentId)),
  );
}

describe("the activity feed of a project", () => {
  it("tells who did what, newest first, with the actor, the member or share holder concerned and the document", async () => {
    const [owner, alice, bob, carol, dave, erin] = await Promise.all([
      signedIn(),
      signedIn(),
      signedIn(),
      signedIn(),
      signedIn(),
      signedIn(),
    ]);
    const project = await createProject(owner.auth);
    const other = await createProject(owner.auth);

    await join(owner.auth, project.id, alice, "editor");
    const declined = await json<{ id: string }>(
      await send(owner.auth, "POST", `/projects/${project.id}/invitations`, {
        login: bob.user.username,
        role: "viewer",
      }),
      201,
    );
    await expectStatus(await send(bob.auth, "POST", `/invitations/${declined.id}/decline`), 204);
    const revoked = await json<{ id: string }>(
      await send(owner.auth, "POST", `/projects/${project.id}/invitations`, {
        login: carol.user.username,
        role: "admin",
      }),
      201,
    );
    await expectStatus(await send(owner.auth, "DELETE", `/projects/${project.id}/invitations/${revoked.id}`), 204);
    await expectStatus(
      await send(owner.auth, "PATCH", `/projects/${project.id}`, { name: uniqueName("Renamed") }),
      200,
    );

    const doc = await upload(alice.auth, "Plan", project.id);
    await processed(alice.auth, doc.id);
    await expectStatus(await send(alice.auth, "PATCH", `/documents/${doc.id}`, { title: "Plan v2" }), 200);
    await expectStatus(
      await rawUpload(alice.auth, "the second version", "text/plain", { path: `/documents/${doc.id}/versions` }),
      201,
    );
    // The processor's work on the new version (status, scan result, thumbnail) is no activity.
    await processed(alice.auth, doc.id);
    await expectStatus(await send(alice.auth, "POST", `/documents/${doc.id}/versions/1/restore`), 201);
    await expectStatus(
      await send(owner.auth, "PUT", `/documents/${doc.id}/shares`, { user: dave.user.username, access: "read" }),
      200,
    );
    await expectStatus(
      await send(owner.auth, "PUT", `/documents/${doc.id}/shares`, { user: dave.user.username, access: "write" }),
      200,
    );
    await expectStatus(await send(owner.auth, "DELETE", `/documents/${doc.id}/shares/${dave.user.id}`), 204);
    await expectStatus(
      await send(owner.auth, "PATCH", `/projects/${project.id}/members/${alice.user.id}`, { role: "viewer" }),
      200,
    );
    await join(owner.auth, project.id, erin, "viewer");
    await expectStatus(await send(erin.auth, "DELETE", `/projects/${project.id}/members/${erin.user.id}`), 204);

    const moved = await upload(owner.auth, "Moving", project.id);
    await expectStatus(await send(owner.auth, "POST", `/documents/${moved.id}/move`, { projectId: other.id }), 200);
    const scrap = await upload(owner.auth, "Scrap", project.id);
    await expectStatus(await send(owner.auth, "DELETE", `/documents/${scrap.id}`), 204);
    await expectStatus(await send(owner.auth, "DELETE", `/projects/${project.id}/members/${alice.user.id}`), 204);
    await expectStatus(await send(owner.auth, "POST", `/projects/${project.id}/archive`), 200);

    const o = owner.user.id;
    expect(story(await feed(owner.auth, project.id))).toEqual([
      {
        action: "project.created",
        actor: o,
        subject: o,
        document: null,
        details: { name: project.name, slug: project.slug, role: "owner" },
      },
      expect.objectContaining({
        action: "member.invited",
        actor: o,
        subject: alice.user.id,
        details: expect.objectContaining({ role: "editor" }),
      }),
      {
        action: "member.joined",
        actor: alice.user.id,
        subject: alice.user.id,
        document: null,
        details: { role: "editor" },
      },
      expect.objectContaining({ action: "member.invited", actor: o, subject: bob.user.id }),
      {
        action: "invitation.declined",
        actor: bob.user.id,
        subject: bob.user.id,
        document: null,
        details: { role: "viewer", invitationId: declined.id },
      },
      expect.objectContaining({ action: "member.invited", actor: o, subject: carol.user.id }),
      {
        action: "invitation.revoked",
        actor: o,
        subject: carol.user.id,
        document: null,
        details: { role: "admin", invitationId: revoked.id },
      },
      { action: "project.updated", actor: o, subject: null, document: null, details: { changed: ["name"] } },
      {
        action: "document.uploaded",
        actor: alice.user.id,
        subject: null,
        document: doc.id,
        details: { title: "Plan" },
      },
      {
        action: "document.updated",
        actor: alice.user.id,
        subject: null,
        document: doc.id,
        details: { changed: ["title"], title: "Plan v2" },
      },
      {
        action: "document.versioned",
        actor: alice.user.id,
        subject: null,
        document: doc.id,
        details: { version: 2, title: "Plan v2" },
      },
      {
        action: "document.restored",
        actor: alice.user.id,
        subject: null,
        document: doc.id,
        details: { version: 3, restoredFrom: 1, title: "Plan v2" },
      },
      {
        action: "document.shared",
        actor: o,
        subject: dave.user.id,
        document: doc.id,
        details: { access: "read", title: "Plan v2" },
      },
      {
        action: "document.shared",
        actor: o,
        subject: dave.user.id,
        document: doc.id,
        details: { access: "write", from: "read", title: "Plan v2" },
      },
      {
        action: "document.unshared",
        actor: o,
        subject: dave.user.id,
        document: doc.id,
        details: { access: "write", title: "Plan v2" },
      },
      {
        action: "member.role_changed",
        actor: o,
        subject: alice.user.id,
        document: null,
        details: { from: "editor", to: "viewer" },
      },
      expect.objectContaining({ action: "member.invited", subject: erin.user.id }),
      expect.objectContaining({ action: "member.joined", actor: erin.user.id, subject: erin.user.id }),
      {
        action: "member.left",
        actor: erin.user.id,
        subject: erin.user.id,
        document: null,
        details: { role: "viewer" },
      },
      { action: "document.uploaded", actor: o, subject: null, document: moved.id, details: { title: "Moving" } },
      {
        action: "document.moved",
        actor: o,
        subject: null,
        document: moved.id,
        details: { to: other.id, title: "Moving" },
      },
      { action: "document.uploaded", actor: o, subject: null, document: scrap.id, details: { title: "Scrap" } },
      { action: "document.deleted", actor: o, subject: null, document: scrap.id, details: { title: "Scrap" } },
      { action: "member.removed", actor: o, subject: alice.user.id, document: null, details: { role: "viewer" } },
      { action: "project.archived", actor: o, subject: null, document: null, details: {} },
    ]);
    // The other project saw the document arrive, and nothing of the first project's life.
    expect(story(await feed(owner.auth, other.id)).map((e) => [e.action, e.document, e.details])).toEqual([
      ["project.created", null, { name: other.name, slug: other.slug, role: "owner" }],
      ["document.moved", moved.id, { from: project.id, title: "Moving" }],
    ]);

    // Newest first, strictly; the same order as the ids' (created_at, id) keyset.
    const entries = await feed(owner.auth, project.id);
    for (let i = 1; i < entries.length; i++) {
      const [newer, older] = [entries[i - 1], entries[i]];
      expect(newer && older && Date.parse(newer.createdAt) >= Date.parse(older.createdAt)).toBe(true);
    }

    // A member reads it; a removed member, one who left, a declined invitee and a stranger do not.
    const member = await signedIn();
    await expectStatus(await send(owner.auth, "POST", `/projects/${project.id}/unarchive`), 200);
    await join(owner.auth, project.id, member, "viewer");
    // A viewer: everything but who was invited and with whom documents are shared (owners' and
    // admins' only), plus the unarchive and their own joining (their invitation is hidden too).
    const managersOnly: readonly string[] = MANAGERS_ONLY_ACTIONS;
    const visible = entries.filter((entry) => !managersOnly.includes(entry.action));
    expect((await feed(member.auth, project.id)).map((entry) => entry.action)).toEqual([
      "member.joined",
      "project.unarchived",
      ...visible.map((entry) => entry.action),
    ]);
    for (const outsider of [alice, erin, bob, dave]) {
      await expectProblem(await send(outsider.auth, "GET", activityPath(project.id)), 404);
    }
  });

  it("pages with a keyset cursor and filters by action", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const members = await Promise.all([signedIn(), signedIn(), signedIn(), signedIn()]);
    for (const member of members) await join(owner.auth, project.id, member, "viewer");
    const whole = await feed(owner.auth, project.id);
    expect(whole).toHaveLength(1 + 2 * members.length);

    const seen: ActivityJson[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: ActivityPage = await json(
        await send(owner.auth, "GET", activityPath(project.id, { limit: "2", ...(cursor ? { cursor } : {}) })),
        200,
      );
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data);
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(Math.ceil(whole.length / 2));
    expect(seen.map((e) => e.id)).toEqual(whole.map((e) => e.id));

    const joined = await feed(owner.auth, project.id, { action: "member.joined" });
    expect(joined.map((e) => e.subjectUserId)).toEqual(members.map((m) => m.user.id).reverse());
    await expectProblem(await send(owner.auth, "GET", activityPath(project.id, { action: "member.danced" })), 400);
    await expectProblem(await send(owner.auth, "GET", activityPath(project.id, { cursor: "not-a-cursor" })), 400);
  });

  it("is the project's members' only: 404 for a stranger and for no project, 401 without a token", async () => {
    const [owner, stranger] = await Promise.all([signedIn(), signedIn()]);
    const project = await createProject(owner.auth);
    await expectProblem(await send(stranger.auth, "GET", activityPath(project.id)), 404);
    await expectProblem(await send(owner.auth, "GET", activityPath(crypto.randomUUID())), 404);
    await expectProblem(await api(activityPath(project.id)), 401);
    // An administrator who is not a member reads it, as every project.
    const admin = await signedInAdmin();
    expect((await feed(admin.auth, project.id)).map((e) => e.action)).toEqual(["project.created"]);
  });

  it("is written in the transaction of the change: a change refused at commit leaves no entry", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const before = await feed(owner.auth, project.id);
    // The sole owner's demotion passes its statement (the trigger records it) and fails at COMMIT.
    await expectProblem(
      await send(owner.auth, "PATCH", `/projects/${project.id}/members/${owner.user.id}`, { role: "viewer" }),
      409,
    );
    await expectProblem(await send(owner.auth, "DELETE", `/projects/${project.id}/members/${owner.user.id}`), 409);
    expect(await feed(owner.auth, project.id)).toEqual(before);
  });

  it("records nothing of personal documents, until one is filed in a project", async () => {
    const [owner, friend] = await Promise.all([signedIn(), signedIn()]);
    const project = await createProject(owner.auth);
    const doc = await upload(owner.auth, "Diary");
    await processed(owner.auth, doc.id);
    await expectStatus(await send(owner.auth, "PATCH", `/documents/${doc.id}`, { title: "Diary 2", tags: ["x"] }), 200);
    await expectStatus(
      await rawUpload(owner.auth, "again", "text/plain", { path: `/documents/${doc.id}/versions` }),
      201,
    );
    await expectStatus(
      await send(owner.auth, "PUT", `/documents/${doc.id}/shares`, { user: friend.user.username, access: "read" }),
      200,
    );
    await expectStatus(await send(owner.auth, "DELETE", `/documents/${doc.id}/shares/${friend.user.id}`), 204);
    await processed(owner.auth, doc.id);
    expect(await activityOfDocument(doc.id)).toEqual([]);

    // Filed in the project: one entry there, from nowhere; back to personal: one, to nowhere.
    await expectStatus(await send(owner.auth, "POST", `/documents/${doc.id}/move`, { projectId: project.id }), 200);
    await expectStatus(await send(owner.auth, "POST", `/documents/${doc.id}/move`, { projectId: null }), 200);
    await expectStatus(await send(owner.auth, "DELETE", `/documents/${doc.id}`), 204);
    const rows = await activityOfDocument(doc.id);
    expect(rows.map((r) => [r.projectId, r.action, r.details]).sort()).toEqual(
      [
        [project.id, "document.moved", { from: null, title: "Diary 2" }],
        [project.id, "document.moved", { to: null, title: "Diary 2" }],
      ].sort(),
    );
  });

  it("lets an account be deleted while it is a member and share holder, and keeps the feed", async () => {
    const [owner, member, holder] = await Promise.all([signedIn(), signedIn(), signedIn()]);
    const admin = await signedInAdmin();
    const project = await createProject(owner.auth);
    await join(owner.auth, project.id, member, "editor");
    const doc = await upload(member.auth, "Shared", project.id);
    // Processed first: the account's deletion takes its documents with it, which is not this test's race.
    await processed(member.auth, doc.id);
    await expectStatus(
      await send(owner.auth, "PUT", `/documents/${doc.id}/shares`, { user: holder.user.username, access: "read" }),
      200,
    );
    const before = await feed(owner.auth, project.id);

    await expectStatus(await send(admin.auth, "DELETE", `/users/${holder.user.id}`), 204);
    await expectStatus(await send(admin.auth, "DELETE", `/users/${member.user.id}`), 204);
    const after = await feed(owner.auth, project.id);
    // Nothing recorded of the cascades; the entries about them stay, naming nobody now.
    expect(after.map((e) => e.id)).toEqual(before.map((e) => e.id));
    const shared = after.find((e) => e.action === "document.shared");
    expect(shared?.subjectUserId).toBeNull();
    expect(after.find((e) => e.action === "member.joined")?.actor).toBeNull();
  });

  it("ends with project.deleted, and goes with the project when the sweeper purges it", async () => {
    const [owner, member, invitee] = await Promise.all([signedIn(), signedIn(), signedIn()]);
    const project = await createProject(owner.auth);
    await join(owner.auth, project.id, member, "editor");
    const pending = await json<{ id: string }>(
      await send(owner.auth, "POST", `/projects/${project.id}/invitations`, {
        login: invitee.user.username,
        role: "viewer",
      }),
      201,
    );
    const doc = await upload(member.auth, "Left behind", project.id);
    await expectStatus(await send(owner.auth, "DELETE", `/projects/${project.id}`), 204);
    await expectProblem(await send(member.auth, "GET", activityPath(project.id)), 404);

    const rowsOf = () =>
      asActor(handle.db, SYSTEM, (tx) =>
        tx
          .select()
          .from(projectActivity)
          .where(eq(projectActivity.projectId, project.id))
          .orderBy(desc(projectActivity.createdAt), desc(projectActivity.id)),
      );
    // The deletion is one entry: its documents and pending invitations go after the project is
    // deleted, in the same transaction, and a deleted project records nothing more.
    const rows = await rowsOf();
    expect(rows.slice(0, 1).map((r) => [r.action, r.actorId])).toEqual([["project.deleted", owner.user.id]]);
    expect(rows.map((r) => r.action)).not.toContain("document.deleted");
    expect(rows.map((r) => r.action)).not.toContain("invitation.revoked");
    expect(rows.find((r) => r.action === "member.invited")?.details).toMatchObject({ invitationId: pending.id });
    expect(rows.find((r) => r.action === "document.uploaded")?.documentId).toBe(doc.id);

    // The purge deletes its members by cascade: nothing is recorded of that (the project is gone).
    const purged = await asActor(handle.db, SYSTEM, async (tx) => {
      await tx.delete(documents).where(eq(documents.projectId, project.id));
      return tx.delete(projects).where(eq(projects.id, project.id)).returning({ id: projects.id });
    });
    expect(purged).toEqual([{ id: project.id }]);
    expect(await rowsOf()).toEqual([]);
  });

  it("is written by the triggers only: users neither read another project's nor write any", async () => {
    const [owner, stranger] = await Promise.all([signedIn(), signedIn()]);
    const project = await createProject(owner.auth);
    const as = (id: string): Actor => ({ kind: "user", userId: id, role: "user", permissions: [] });
    const read = (id: string) =>
      asActor(handle.db, as(id), (tx) =>
        tx.select().from(projectActivity).where(eq(projectActivity.projectId, project.id)),
      );
    expect(await read(owner.user.id)).toHaveLength(1);
    expect(await read(stranger.user.id)).toEqual([]);
    const refusal = async (work: Promise<unknown>) => {
      try {
        await work;
      } catch (error) {
        return serverError(error)?.code;
      }
      return "ok";
    };
    expect(
      await refusal(
        asActor(handle.db, as(owner.user.id), (tx) =>
          tx
            .insert(projectActivity)
            .values({ projectId: project.id, action: "project.archived", actorId: stranger.user.id }),
        ),
      ),
    ).toBe("42501");
    // An update or delete by a member changes nothing (no row passes their policies).
    await asActor(handle.db, as(owner.user.id), async (tx) => {
      await tx
        .update(projectActivity)
        .set({ action: "project.deleted" })
        .where(eq(projectActivity.projectId, project.id));
      await tx.delete(projectActivity).where(eq(projectActivity.projectId, project.id));
    });
    expect((await read(owner.user.id)).map((r) => r.action)).toEqual(["project.created"]);
    // The action set is closed, even for the system.
    expect(
      await refusal(
        asActor(handle.db, SYSTEM, (tx) =>
          tx.execute(sql`insert into project_activity (project_id, action) values (${project.id}, 'member.danced')`),
        ),
      ),
    ).toBe("23514");
  });
});
