import { eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { projectInvitations as invitationsTable } from "../../src/db/schema/projects.ts";
import { register, signedIn, signedInAdmin, uniqueName } from "../auth-helpers.ts";
import { asSystem, expectProblem } from "../helpers.ts";
import {
  accept,
  createProject,
  decline,
  expectJson,
  type InvitationJson,
  inboxOf,
  invite,
  memberOf,
  membersOf,
  type ProjectJson,
  readProject,
  rolesIn,
  send,
  team,
} from "../project-helpers.ts";

const inviteRes = (auth: Record<string, string>, projectId: string, body: unknown) =>
  send(auth, "POST", `/projects/${projectId}/invitations`, body);

async function projectInvitations(auth: Record<string, string>, projectId: string): Promise<InvitationJson[]> {
  const res = await send(auth, "GET", `/projects/${projectId}/invitations`);
  expect(res.headers.get("cache-control")).toBe("no-store");
  return (await expectJson<{ data: InvitationJson[] }>(res, 200)).data;
}

const revoke = (auth: Record<string, string>, projectId: string, invitationId: string) =>
  send(auth, "DELETE", `/projects/${projectId}/invitations/${invitationId}`);

const DAY = 24 * 60 * 60 * 1000;

describe("POST /projects/{id}/invitations", () => {
  it("invites an existing user by username: 201, the pending invitation, in their inbox and the project's list", async () => {
    const owner = await signedIn();
    const invitee = await signedIn();
    const project = await createProject(owner.auth);
    const res = await inviteRes(owner.auth, project.id, { login: invitee.user.username, role: "editor" });
    const invitation = await expectJson<InvitationJson>(res, 201);
    expect(invitation).toMatchObject({
      project: { id: project.id, slug: project.slug, name: project.name },
      invitee: { id: invitee.user.id, login: invitee.user.username },
      role: "editor",
      status: "pending",
      invitedBy: owner.user.id,
      respondedAt: null,
    });
    expect(Date.parse(invitation.expiresAt) - Date.parse(invitation.createdAt)).toBe(14 * DAY);

    expect(await inboxOf(invitee.auth)).toEqual([invitation]);
    expect(await projectInvitations(owner.auth, project.id)).toEqual([invitation]);
    // Invited is not joined.
    await expectProblem(await send(invitee.auth, "GET", `/projects/${project.id}`), 404);
    expect(await inboxOf(owner.auth)).toEqual([]);
  });

  it("invites by email, in any case", async () => {
    const owner = await signedIn();
    const email = `${uniqueName("mail")}@example.com`;
    const { user } = await register({ email });
    const project = await createProject(owner.auth);
    const invitation = await expectJson<InvitationJson>(
      await inviteRes(owner.auth, project.id, { login: ` ${email.toUpperCase()} `, role: "viewer" }),
      201,
    );
    // Named by the login as given (trimmed), never by the username behind the email.
    expect(invitation.invitee).toEqual({ id: user.id, login: email.toUpperCase() });
  });

  it("lets a project admin invite", async () => {
    const { project, admin } = await team();
    const invitee = await signedIn();
    const invitation = await invite(admin.auth, project.id, invitee.user.username, "admin");
    expect(invitation.invitedBy).toBe(admin.user.id);
    expect((await projectInvitations(admin.auth, project.id)).map((i) => i.id)).toEqual([invitation.id]);
  });

  it("answers 404 for a login no active user has, the same for a disabled user", async () => {
    const owner = await signedIn();
    const staff = await signedInAdmin();
    const disabled = await signedIn();
    expect((await send(staff.auth, "POST", `/users/${disabled.user.id}/disable`)).status).toBe(200);
    const project = await createProject(owner.auth);
    const unknown = await expectProblem(
      await inviteRes(owner.auth, project.id, { login: uniqueName("nobody"), role: "viewer" }),
      404,
    );
    const off = await expectProblem(
      await inviteRes(owner.auth, project.id, { login: disabled.user.username, role: "viewer" }),
      404,
    );
    expect(off.detail).toBe(unknown.detail);
    expect(await projectInvitations(owner.auth, project.id)).toEqual([]);
  });

  it("refuses a member, oneself, or someone already invited (409)", async () => {
    const { project, owner, editor } = await team();
    const invitee = await signedIn();
    await expectProblem(await inviteRes(owner.auth, project.id, { login: editor.user.username, role: "admin" }), 409);
    await expectProblem(await inviteRes(owner.auth, project.id, { login: owner.user.email, role: "viewer" }), 409);
    const first = await invite(owner.auth, project.id, invitee.user.username, "viewer");
    const again = await expectProblem(
      await inviteRes(owner.auth, project.id, { login: invitee.user.email, role: "admin" }),
      409,
    );
    expect(again.detail).toMatch(/pending invitation/);
    expect(await inboxOf(invitee.auth)).toEqual([first]);
  });

  it("refuses editors and viewers (403) and strangers (404); nobody is invited", async () => {
    const { project, owner, editor, viewer, stranger } = await team();
    const invitee = await signedIn();
    for (const user of [editor, viewer]) {
      await expectProblem(
        await inviteRes(user.auth, project.id, { login: invitee.user.username, role: "viewer" }),
        403,
      );
    }
    await expectProblem(
      await inviteRes(stranger.auth, project.id, { login: invitee.user.username, role: "viewer" }),
      404,
    );
    expect(await inboxOf(invitee.auth)).toEqual([]);
    expect(await projectInvitations(owner.auth, project.id)).toEqual([]);
  });

  it.each([
    ["the owner role", { role: "owner" }],
    ["an unknown role", { role: "guest" }],
    ["no login", { login: undefined }],
    ["a blank login", { login: "   " }],
    ["an extra field", { status: "accepted" }],
    ["an expiry of one's own", { expiresAt: "2099-01-01T00:00:00Z" }],
  ])("refuses %s with 400", async (_, change) => {
    const owner = await signedIn();
    const invitee = await signedIn();
    const project = await createProject(owner.auth);
    await expectProblem(
      await inviteRes(owner.auth, project.id, { login: invitee.user.username, role: "viewer", ...change }),
      400,
    );
    expect(await inboxOf(invitee.auth)).toEqual([]);
  });

  it("is allowed while the project is archived", async () => {
    const owner = await signedIn();
    const invitee = await signedIn();
    const project = await createProject(owner.auth);
    expect((await send(owner.auth, "POST", `/projects/${project.id}/archive`)).status).toBe(200);
    const invitation = await invite(owner.auth, project.id, invitee.user.username, "viewer");
    expect((await expectJson<ProjectJson>(await accept(invitee.auth, invitation.id), 200)).archivedAt).not.toBeNull();
  });
});

describe("GET /projects/{id}/invitations", () => {
  it("lists the pending invitations newest first, to owners and admins only", async () => {
    const { project, owner, admin, editor, viewer, stranger } = await team();
    const [a, b] = [await signedIn(), await signedIn()];
    const first = await invite(owner.auth, project.id, a.user.username, "viewer");
    const second = await invite(admin.auth, project.id, b.user.username, "editor");
    expect((await projectInvitations(owner.auth, project.id)).map((i) => i.id)).toEqual([second.id, first.id]);
    expect((await projectInvitations(admin.auth, project.id)).map((i) => i.id)).toEqual([second.id, first.id]);
    const staff = await signedInAdmin();
    expect((await projectInvitations(staff.auth, project.id)).map((i) => i.id)).toEqual([second.id, first.id]);
    for (const user of [editor, viewer]) {
      await expectProblem(await send(user.auth, "GET", `/projects/${project.id}/invitations`), 403);
    }
    await expectProblem(await send(stranger.auth, "GET", `/projects/${project.id}/invitations`), 404);
    // An invitee sees their own invitation in their inbox, not the project's list.
    await expectProblem(await send(a.auth, "GET", `/projects/${project.id}/invitations`), 404);
    // Answered invitations leave the list.
    await expectJson(await accept(a.auth, first.id), 200);
    expect((await decline(b.auth, second.id)).status).toBe(204);
    expect(await projectInvitations(owner.auth, project.id)).toEqual([]);
  });
});

describe("accepting and declining", () => {
  it.each(["admin", "editor", "viewer"] as const)(
    "accepting joins with exactly the role invited (%s)",
    async (role) => {
      const owner = await signedIn();
      const invitee = await signedIn();
      const project = await createProject(owner.auth);
      const invitation = await invite(owner.auth, project.id, invitee.user.username, role);
      const res = await accept(invitee.auth, invitation.id);
      const joined = await expectJson<ProjectJson>(res, 200);
      expect(joined).toMatchObject({ id: project.id, slug: project.slug, role });
      expect((await readProject(invitee.auth, project.id)).role).toBe(role);
      const member = (await membersOf(owner.auth, project.id)).find((m) => m.userId === invitee.user.id);
      expect(member).toMatchObject({ role, addedBy: owner.user.id, username: invitee.user.username });
      expect(await inboxOf(invitee.auth)).toEqual([]);
      expect(await projectInvitations(owner.auth, project.id)).toEqual([]);
      const listed = await expectJson<{ data: ProjectJson[] }>(await send(invitee.auth, "GET", "/projects"), 200);
      expect(listed.data.map((p) => [p.id, p.role])).toEqual([[project.id, role]]);
    },
  );

  it("an accepted invitation cannot be answered again (409), and the role stays", async () => {
    const owner = await signedIn();
    const invitee = await signedIn();
    const project = await createProject(owner.auth);
    const invitation = await invite(owner.auth, project.id, invitee.user.username, "viewer");
    await expectJson(await accept(invitee.auth, invitation.id), 200);
    const replay = await expectProblem(await accept(invitee.auth, invitation.id), 409);
    expect(replay.detail).toMatch(/accepted/);
    await expectProblem(await decline(invitee.auth, invitation.id), 409);
    // An owner revoking an answered invitation finds nothing pending.
    await expectProblem(await revoke(owner.auth, project.id, invitation.id), 404);
    expect((await rolesIn(owner.auth, project.id))[invitee.user.id]).toBe("viewer");
  });

  it("a declined invitation cannot be accepted (409); the project may invite again, and that one is accepted", async () => {
    const owner = await signedIn();
    const invitee = await signedIn();
    const project = await createProject(owner.auth);
    const invitation = await invite(owner.auth, project.id, invitee.user.username, "admin");
    expect((await decline(invitee.auth, invitation.id)).status).toBe(204);
    expect(await inboxOf(invitee.auth)).toEqual([]);
    const problem = await expectProblem(await accept(invitee.auth, invitation.id), 409);
    expect(problem.detail).toMatch(/declined/);
    await expectProblem(await decline(invitee.auth, invitation.id), 409);
    await expectProblem(await send(invitee.auth, "GET", `/projects/${project.id}`), 404);

    const again = await invite(owner.auth, project.id, invitee.user.username, "viewer");
    expect(again.id).not.toBe(invitation.id);
    expect((await inboxOf(invitee.auth)).map((i) => i.id)).toEqual([again.id]);
    expect((await expectJson<ProjectJson>(await accept(invitee.auth, again.id), 200)).role).toBe("viewer");
  });

  it("only the invitee answers: anyone else, the project's owner included, gets 404 and the invitation stays pending", async () => {
    const owner = await signedIn();
    const invitee = await signedIn();
    const stranger = await signedIn();
    const staff = await signedInAdmin();
    const project = await createProject(owner.auth);
    const invitation = await invite(owner.auth, project.id, invitee.user.username, "editor");
    const nowhere = crypto.randomUUID();
    const unknown = await expectProblem(await accept(stranger.auth, nowhere), 404);
    for (const user of [stranger, owner, staff]) {
      const problem = await expectProblem(await accept(user.auth, invitation.id), 404);
      expect(problem.detail.replace(invitation.id, "<id>")).toBe(unknown.detail.replace(nowhere, "<id>"));
      await expectProblem(await decline(user.auth, invitation.id), 404);
    }
    expect(await rolesIn(owner.auth, project.id)).toEqual({ [owner.user.id]: "owner" });
    expect(await inboxOf(invitee.auth)).toEqual([invitation]);
    expect((await expectJson<ProjectJson>(await accept(invitee.auth, invitation.id), 200)).role).toBe("editor");
  });

  it("refuses an id that is not a uuid with 400", async () => {
    const me = await signedIn();
    await expectProblem(await accept(me.auth, "not-a-uuid"), 400);
    await expectProblem(await decline(me.auth, "not-a-uuid"), 400);
  });

  it("two accepts at once: one joins, the other is refused with 409; one membership", async () => {
    const owner = await signedIn();
    const invitee = await signedIn();
    const project = await createProject(owner.auth);
    const invitation = await invite(owner.auth, project.id, invitee.user.username, "editor");
    const responses = await Promise.all([accept(invitee.auth, invitation.id), accept(invitee.auth, invitation.id)]);
    const statuses = responses.map((res) => res.status).sort();
    expect(statuses).toEqual([200, 409]);
    for (const res of responses) {
      if (res.status === 409) await expectProblem(res, 409);
      else await res.arrayBuffer();
    }
    const members = await membersOf(owner.auth, project.id);
    expect(members.filter((m) => m.userId === invitee.user.id).map((m) => m.role)).toEqual(["editor"]);
  });
});

describe("DELETE /projects/{id}/invitations/{invitationId}", () => {
  it("an owner or admin revokes a pending invitation; it leaves the inbox and cannot be accepted (409)", async () => {
    const { project, owner, admin } = await team();
    const [a, b] = [await signedIn(), await signedIn()];
    const first = await invite(owner.auth, project.id, a.user.username, "viewer");
    const second = await invite(owner.auth, project.id, b.user.username, "viewer");
    expect((await revoke(owner.auth, project.id, first.id)).status).toBe(204);
    expect((await revoke(admin.auth, project.id, second.id)).status).toBe(204);
    for (const [user, invitation] of [
      [a, first],
      [b, second],
    ] as const) {
      expect(await inboxOf(user.auth)).toEqual([]);
      const problem = await expectProblem(await accept(user.auth, invitation.id), 409);
      expect(problem.detail).toMatch(/revoked/);
      await expectProblem(await send(user.auth, "GET", `/projects/${project.id}`), 404);
    }
    await expectProblem(await revoke(owner.auth, project.id, first.id), 404);
    expect(await projectInvitations(owner.auth, project.id)).toEqual([]);
  });

  it("refuses editors and viewers (403), strangers (404), and another project's invitation (404); it stays pending", async () => {
    const { project, owner, editor, viewer, stranger } = await team();
    const invitee = await signedIn();
    const invitation = await invite(owner.auth, project.id, invitee.user.username, "viewer");
    for (const user of [editor, viewer]) await expectProblem(await revoke(user.auth, project.id, invitation.id), 403);
    await expectProblem(await revoke(stranger.auth, project.id, invitation.id), 404);
    // The owner of another project cannot reach this invitation through their own project.
    const elsewhere = await createProject(stranger.auth);
    await expectProblem(await revoke(stranger.auth, elsewhere.id, invitation.id), 404);
    // Nor its own owner through another project they manage.
    const mine = await createProject(owner.auth);
    await expectProblem(await revoke(owner.auth, mine.id, invitation.id), 404);
    expect(await inboxOf(invitee.auth)).toEqual([invitation]);
    await expectProblem(await revoke(owner.auth, project.id, crypto.randomUUID()), 404);
  });

  it("after the project is deleted, the invitee's inbox is empty and the invitation is revoked", async () => {
    const owner = await signedIn();
    const invitee = await signedIn();
    const project = await createProject(owner.auth);
    const invitation = await invite(owner.auth, project.id, invitee.user.username, "admin");
    expect((await send(owner.auth, "DELETE", `/projects/${project.id}`)).status).toBe(204);
    expect(await inboxOf(invitee.auth)).toEqual([]);
    await expectProblem(await accept(invitee.auth, invitation.id), 409);
    await expectProblem(await decline(invitee.auth, invitation.id), 409);
  });

  it("a member who was removed can be invited again and rejoins in the new role", async () => {
    const { project, owner } = await team();
    const member = await memberOf(owner.auth, project.id, "editor");
    expect((await send(owner.auth, "DELETE", `/projects/${project.id}/members/${member.user.id}`)).status).toBe(204);
    const invitation = await invite(owner.auth, project.id, member.user.username, "viewer");
    expect((await expectJson<ProjectJson>(await accept(member.auth, invitation.id), 200)).role).toBe("viewer");
  });
});

/** Moves an invitation's expiry into the past, as 14 days without an answer would. */
const expire = (invitationId: string) =>
  asSystem((tx) =>
    tx
      .update(invitationsTable)
      .set({ expiresAt: sql`now() - interval '1 minute'` })
      .where(eq(invitationsTable.id, invitationId)),
  );

describe("an expired invitation", () => {
  it("cannot be accepted or declined (409) and is listed nowhere", async () => {
    const owner = await signedIn();
    const invitee = await signedIn();
    const project = await createProject(owner.auth);
    const invitation = await invite(owner.auth, project.id, invitee.user.username, "editor");
    await expire(invitation.id);
    expect(await inboxOf(invitee.auth)).toEqual([]);
    expect(await projectInvitations(owner.auth, project.id)).toEqual([]);
    expect((await expectProblem(await accept(invitee.auth, invitation.id), 409)).detail).toMatch(/expired/);
    // "An invitation already answered, revoked or expired is a 409": declining it too.
    expect((await expectProblem(await decline(invitee.auth, invitation.id), 409)).detail).toMatch(/expired/);
    await expectProblem(await send(invitee.auth, "GET", `/projects/${project.id}`), 404);
  });

  it("does not stand in the way of a new invitation, which is accepted", async () => {
    const owner = await signedIn();
    const invitee = await signedIn();
    const project = await createProject(owner.auth);
    const old = await invite(owner.auth, project.id, invitee.user.username, "editor");
    await expire(old.id);
    const again = await invite(owner.auth, project.id, invitee.user.username, "viewer");
    expect(again.id).not.toBe(old.id);
    expect((await inboxOf(invitee.auth)).map((i) => i.id)).toEqual([again.id]);
    // The expired one is closed, so it stays unanswerable, and the new one is accepted.
    await expectProblem(await accept(invitee.auth, old.id), 409);
    expect((await expectJson<ProjectJson>(await accept(invitee.auth, again.id), 200)).role).toBe("viewer");
    expect((await rolesIn(owner.auth, project.id))[invitee.user.id]).toBe("viewer");
  });
});
