import { describe, expect, it } from "vitest";
import { signedIn, signedInAdmin, uniqueName } from "../auth-helpers.ts";
import { api, expectProblem, type ProblemJson } from "../helpers.ts";
import {
  accept,
  createProject,
  expectJson,
  inboxOf,
  invite,
  memberOf,
  membersOf,
  type ProjectJson,
  readProject,
  send,
  team,
} from "../project-helpers.ts";

interface PageJson {
  data: ProjectJson[];
  nextCursor: string | null;
}

const list = async (auth: Record<string, string>, query = "") =>
  expectJson<PageJson>(await send(auth, "GET", `/projects${query}`), 200);

/** A problem without what differs per request or per id, to compare two refusals. */
const comparable = (problem: ProblemJson, id: string) => ({
  type: problem.type,
  title: problem.title,
  status: problem.status,
  detail: problem.detail.replace(id, "<id>"),
  errors: problem.errors,
});

describe("POST /projects", () => {
  it("creates the project with the caller as its only owner; 201 with its Location", async () => {
    const owner = await signedIn();
    const slug = uniqueName("launch");
    const res = await send(owner.auth, "POST", "/projects", {
      name: "  Launch plan  ",
      slug,
      description: "Everything about the launch",
      settings: { theme: { color: "blue" }, beta: true },
    });
    const project = await expectJson<ProjectJson>(res, 201);
    expect(res.headers.get("location")).toBe(`/projects/${project.id}`);
    expect(project).toMatchObject({
      slug,
      name: "Launch plan",
      description: "Everything about the launch",
      settings: { theme: { color: "blue" }, beta: true },
      role: "owner",
      createdBy: owner.user.id,
      archivedAt: null,
    });

    const location = res.headers.get("location") ?? "";
    expect(await expectJson<ProjectJson>(await api(location, { headers: owner.auth }), 200)).toEqual(project);
    const members = await membersOf(owner.auth, project.id);
    expect(members.map((m) => [m.userId, m.role, m.addedBy])).toEqual([[owner.user.id, "owner", owner.user.id]]);
  });

  it("derives the slug from the name when none is given (accents dropped, words hyphenated)", async () => {
    const owner = await signedIn();
    const tag = crypto.randomUUID().slice(0, 8);
    const project = await createProject(owner.auth, { name: `Été Review: Q3 & ${tag}!` });
    expect(project.slug).toBe(`ete-review-q3-${tag}`);
    expect(project.description).toBe("");
    expect(project.settings).toEqual({});
  });

  it("gives a derived slug that is taken a short random suffix; both projects exist", async () => {
    const [first, second] = [await signedIn(), await signedIn()];
    const name = `Shared name ${crypto.randomUUID().slice(0, 8)}`;
    const a = await createProject(first.auth, { name });
    const b = await createProject(second.auth, { name });
    expect(b.slug).toMatch(new RegExp(`^${a.slug}-[0-9a-f]{6}$`));
    expect(b.id).not.toBe(a.id);
    expect((await readProject(second.auth, b.id)).slug).toBe(b.slug);
    // A third with the same name gets a suffix of its own.
    const c = await createProject(first.auth, { name });
    expect(c.slug).toMatch(new RegExp(`^${a.slug}-[0-9a-f]{6}$`));
    expect(c.slug).not.toBe(b.slug);
  });

  it("refuses a slug that is taken with 409, even when another user's project holds it; nothing is created", async () => {
    const [first, second] = [await signedIn(), await signedIn()];
    const slug = uniqueName("taken");
    await createProject(first.auth, { slug });
    const problem = await expectProblem(await send(second.auth, "POST", "/projects", { name: "Mine too", slug }), 409);
    expect(problem.detail).toContain(slug);
    expect((await list(second.auth)).data).toEqual([]);
  });

  it("frees the slug of a deleted project", async () => {
    const owner = await signedIn();
    const slug = uniqueName("reused");
    const old = await createProject(owner.auth, { slug });
    expect((await send(owner.auth, "DELETE", `/projects/${old.id}`)).status).toBe(204);
    const again = await createProject(owner.auth, { slug });
    expect(again.slug).toBe(slug);
    expect(again.id).not.toBe(old.id);
  });

  it.each([
    ["upper case", { slug: "Launch-Plan" }, "/slug"],
    ["too short", { slug: "ab" }, "/slug"],
    ["too long", { slug: "a".repeat(65) }, "/slug"],
    ["a leading hyphen", { slug: "-launch" }, "/slug"],
    ["a double hyphen", { slug: "launch--plan" }, "/slug"],
    ["a space", { slug: "launch plan" }, "/slug"],
    ["a non-string slug", { slug: 42 }, "/slug"],
    ["an empty name", { name: "" }, "/name"],
    ["a blank name", { name: "   " }, "/name"],
    ["a name over 100 characters", { name: "n".repeat(101) }, "/name"],
    ["no name", { name: undefined }, "/name"],
    ["settings that are not an object", { settings: ["a"] }, "/settings"],
    ["settings over 16 KiB", { settings: { big: "x".repeat(16_400) } }, "/settings"],
    ["a description over 2000 characters", { description: "d".repeat(2001) }, "/description"],
    ["settings holding a NUL character", { settings: { note: "a\u0000b" } }, "/settings"],
    ["a name holding a NUL character", { name: "a\u0000b" }, "/name"],
  ])("refuses %s with 400 naming the field", async (_, change, pointer) => {
    const owner = await signedIn();
    const body = { name: "Valid name", ...change };
    const problem = await expectProblem(await send(owner.auth, "POST", "/projects", body), 400);
    expect(
      problem.errors?.some((e) => e.in === "body" && e.pointer.startsWith(pointer)),
      problem.detail,
    ).toBe(true);
    expect((await list(owner.auth)).data).toEqual([]);
  });

  it.each([
    ["role", "owner"],
    ["createdBy", "00000000-0000-4000-8000-000000000000"],
    ["id", "00000000-0000-4000-8000-000000000000"],
    ["archivedAt", "2020-01-01T00:00:00Z"],
    ["deletedAt", null],
  ])("refuses the unknown field %s with 400 (no mass assignment)", async (field, value) => {
    const owner = await signedIn();
    const problem = await expectProblem(
      await send(owner.auth, "POST", "/projects", { name: "Mass assignment", [field]: value }),
      400,
    );
    expect(problem.errors?.length).toBeGreaterThan(0);
    expect(problem.detail).toContain(field);
    expect((await list(owner.auth)).data).toEqual([]);
  });

  it("refuses malformed JSON (400), another media type (415) and an anonymous caller (401)", async () => {
    const owner = await signedIn();
    await expectProblem(
      await api("/projects", {
        method: "POST",
        headers: { ...owner.auth, "content-type": "application/json" },
        body: "{ not json",
      }),
      400,
    );
    await expectProblem(
      await api("/projects", {
        method: "POST",
        headers: { ...owner.auth, "content-type": "text/plain" },
        body: JSON.stringify({ name: "Plain" }),
      }),
      415,
    );
    await expectProblem(await send({}, "POST", "/projects", { name: "Anonymous" }), 401);
    expect((await list(owner.auth)).data).toEqual([]);
  });
});

describe("GET /projects", () => {
  it("lists only the caller's live projects, newest first, with the caller's role in each", async () => {
    const [me, other] = await Promise.all([signedIn(), signedIn()]);
    const mine = await createProject(me.auth);
    const theirs = await createProject(other.auth);
    const shared = await createProject(other.auth);
    await expectJson(await accept(me.auth, (await invite(other.auth, shared.id, me.user.username, "viewer")).id), 200);
    const gone = await createProject(me.auth);
    expect((await send(me.auth, "DELETE", `/projects/${gone.id}`)).status).toBe(204);

    const page = await list(me.auth);
    expect(page.data.map((p) => [p.id, p.role])).toEqual([
      [shared.id, "viewer"],
      [mine.id, "owner"],
    ]);
    expect(page.nextCursor).toBeNull();
    expect(page.data.map((p) => p.id)).not.toContain(theirs.id);
    expect((await list(other.auth)).data.map((p) => [p.id, p.role])).toEqual([
      [shared.id, "owner"],
      [theirs.id, "owner"],
    ]);
  });

  it("pages with limit and the cursor: every project once, in order, then no cursor", async () => {
    const me = await signedIn();
    const created = [];
    for (let i = 0; i < 3; i++) created.push((await createProject(me.auth)).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 5; pages++) {
      const page: PageJson = await list(me.auth, `?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      expect(page.data).toHaveLength(1);
      seen.push(...page.data.map((p) => p.id));
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    expect(seen).toEqual(created.reverse());
    const two = await list(me.auth, "?limit=2");
    expect(two.data.map((p) => p.id)).toEqual(seen.slice(0, 2));
    expect(two.nextCursor).not.toBeNull();
  });

  it("filters archived and active projects", async () => {
    const me = await signedIn();
    const active = await createProject(me.auth);
    const archived = await createProject(me.auth);
    expect((await send(me.auth, "POST", `/projects/${archived.id}/archive`)).status).toBe(200);
    expect((await list(me.auth, "?archived=true")).data.map((p) => p.id)).toEqual([archived.id]);
    expect((await list(me.auth, "?archived=false")).data.map((p) => p.id)).toEqual([active.id]);
    expect((await list(me.auth)).data.map((p) => p.id)).toEqual([archived.id, active.id]);
  });

  it.each([
    ["a cursor this API did not issue", "?cursor=not-a-cursor", "/cursor"],
    [
      "a cursor naming an impossible day",
      `?cursor=${btoa("2026-02-30 10:00:00+00|00000000-0000-4000-8000-000000000000")}`,
      "/cursor",
    ],
    ["limit 0", "?limit=0", "/limit"],
    ["limit 101", "?limit=101", "/limit"],
    ["archived=yes", "?archived=yes", "/archived"],
  ])("refuses %s with 400", async (_, query, pointer) => {
    const me = await signedIn();
    const problem = await expectProblem(await send(me.auth, "GET", `/projects${query}`), 400);
    expect(problem.errors?.map((e) => [e.in, e.pointer])).toContainEqual(["query", pointer]);
  });
});

describe("GET /projects/{id}", () => {
  it("answers every member with their own role", async () => {
    const { project, owner, admin, editor, viewer } = await team();
    for (const [user, role] of [
      [owner, "owner"],
      [admin, "admin"],
      [editor, "editor"],
      [viewer, "viewer"],
    ] as const) {
      const res = await send(user.auth, "GET", `/projects/${project.id}`);
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(await expectJson<ProjectJson>(res, 200)).toMatchObject({ id: project.id, slug: project.slug, role });
    }
  });

  it("answers a stranger 404, the same as for an id that exists nowhere", async () => {
    const owner = await signedIn();
    const stranger = await signedIn();
    const project = await createProject(owner.auth);
    const nowhere = crypto.randomUUID();
    const hidden = await expectProblem(await send(stranger.auth, "GET", `/projects/${project.id}`), 404);
    const missing = await expectProblem(await send(stranger.auth, "GET", `/projects/${nowhere}`), 404);
    expect(comparable(hidden, project.id)).toEqual(comparable(missing, nowhere));
    // Every route of the project answers the stranger the same way.
    for (const [method, path, body] of [
      ["GET", "/members", undefined],
      ["GET", "/invitations", undefined],
      ["PATCH", "", { name: "Taken over" }],
      ["POST", "/archive", undefined],
      ["DELETE", "", undefined],
      ["POST", "/invitations", { login: stranger.user.username, role: "admin" }],
      ["POST", "/transfer", { userId: stranger.user.id }],
      ["DELETE", `/members/${owner.user.id}`, undefined],
      ["PATCH", `/members/${owner.user.id}`, { role: "viewer" }],
    ] as const) {
      const a = await expectProblem(await send(stranger.auth, method, `/projects/${project.id}${path}`, body), 404);
      const b = await expectProblem(await send(stranger.auth, method, `/projects/${nowhere}${path}`, body), 404);
      expect(comparable(a, project.id), `${method} ${path}`).toEqual(comparable(b, nowhere));
    }
    expect((await readProject(owner.auth, project.id)).name).toBe(project.name);
    expect((await membersOf(owner.auth, project.id)).map((m) => m.userId)).toEqual([owner.user.id]);
  });

  it("answers an administrator who is not a member with role null", async () => {
    const owner = await signedIn();
    const admin = await signedInAdmin();
    const project = await createProject(owner.auth);
    expect(await readProject(admin.auth, project.id)).toMatchObject({ id: project.id, role: null });
  });

  it("refuses an id that is not a uuid with 400", async () => {
    const me = await signedIn();
    const problem = await expectProblem(await send(me.auth, "GET", "/projects/not-a-uuid"), 400);
    expect(problem.errors?.map((e) => [e.in, e.pointer])).toContainEqual(["path", "/id"]);
  });
});

describe("PATCH /projects/{id}", () => {
  it("merges settings as a JSON merge patch (nested objects merge, null removes) and renames", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth, {
      settings: { theme: { color: "blue", font: "serif", sizes: { body: 14 } }, beta: true, tags: ["a", "b"] },
    });
    const res = await send(owner.auth, "PATCH", `/projects/${project.id}`, {
      name: "Renamed",
      settings: { theme: { color: "red", font: null, sizes: { title: 20 } }, beta: null, tags: ["c"], added: { x: 1 } },
    });
    const changed = await expectJson<ProjectJson>(res, 200);
    expect(changed.settings).toEqual({
      theme: { color: "red", sizes: { body: 14, title: 20 } },
      tags: ["c"],
      added: { x: 1 },
    });
    expect(changed).toMatchObject({ name: "Renamed", slug: project.slug, description: "", role: "owner" });
    expect(Date.parse(changed.updatedAt)).toBeGreaterThan(Date.parse(project.updatedAt));
    expect(await readProject(owner.auth, project.id)).toEqual(changed);

    // A patch of settings alone keeps the name and description; a scalar replaces an object.
    const again = await expectJson<ProjectJson>(
      await send(owner.auth, "PATCH", `/projects/${project.id}`, { settings: { theme: "dark" }, description: "Now" }),
      200,
    );
    expect(again).toMatchObject({
      name: "Renamed",
      description: "Now",
      settings: { theme: "dark", tags: ["c"], added: { x: 1 } },
    });
  });

  it("lets a project admin change it, and answers with their role", async () => {
    const { project, admin } = await team();
    const changed = await expectJson<ProjectJson>(
      await send(admin.auth, "PATCH", `/projects/${project.id}`, { name: "By the admin" }),
      200,
    );
    expect(changed).toMatchObject({ name: "By the admin", role: "admin" });
  });

  it("refuses editors and viewers with 403; nothing changes", async () => {
    const { project, owner, editor, viewer } = await team();
    for (const user of [editor, viewer]) {
      const problem = await expectProblem(
        await send(user.auth, "PATCH", `/projects/${project.id}`, { name: "Not yours", settings: { x: 1 } }),
        403,
      );
      expect(problem.detail).toMatch(/manage/);
    }
    expect(await readProject(owner.auth, project.id)).toMatchObject({ name: project.name, settings: {} });
  });

  it("refuses a change to an archived project with 409", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    expect((await send(owner.auth, "POST", `/projects/${project.id}/archive`)).status).toBe(200);
    const problem = await expectProblem(
      await send(owner.auth, "PATCH", `/projects/${project.id}`, { name: "While archived" }),
      409,
    );
    expect(problem.detail).toMatch(/archived/);
    expect((await readProject(owner.auth, project.id)).name).toBe(project.name);
  });

  it.each([
    ["nothing to change", {}],
    ["a slug (not changeable)", { slug: "new-slug" }],
    ["archivedAt", { archivedAt: null }],
    ["a role", { role: "owner" }],
    ["a blank name", { name: " " }],
    ["settings that are not an object", { settings: "dark" }],
  ])("refuses %s with 400", async (_, body) => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const problem = await expectProblem(await send(owner.auth, "PATCH", `/projects/${project.id}`, body), 400);
    expect(problem.errors?.length).toBeGreaterThan(0);
    expect(await readProject(owner.auth, project.id)).toEqual(project);
  });
});

describe("archiving", () => {
  it("owners archive and unarchive, both idempotent; an archived project stays readable and refuses changes", async () => {
    const { project, owner, viewer } = await team();
    const archived = await expectJson<ProjectJson>(
      await send(owner.auth, "POST", `/projects/${project.id}/archive`),
      200,
    );
    expect(archived.archivedAt).not.toBeNull();
    expect(archived.role).toBe("owner");
    const again = await expectJson<ProjectJson>(await send(owner.auth, "POST", `/projects/${project.id}/archive`), 200);
    expect(again.archivedAt).toBe(archived.archivedAt);

    expect((await readProject(viewer.auth, project.id)).archivedAt).toBe(archived.archivedAt);
    await expectProblem(await send(owner.auth, "PATCH", `/projects/${project.id}`, { settings: { a: 1 } }), 409);
    // Deleting waits for unarchiving too.
    await expectProblem(await send(owner.auth, "DELETE", `/projects/${project.id}`), 409);
    expect((await readProject(owner.auth, project.id)).settings).toEqual({});

    const unarchived = await expectJson<ProjectJson>(
      await send(owner.auth, "POST", `/projects/${project.id}/unarchive`),
      200,
    );
    expect(unarchived.archivedAt).toBeNull();
    const twice = await expectJson<ProjectJson>(
      await send(owner.auth, "POST", `/projects/${project.id}/unarchive`),
      200,
    );
    expect(twice.archivedAt).toBeNull();
    expect(twice.updatedAt).toBe(unarchived.updatedAt);
    const changed = await expectJson<ProjectJson>(
      await send(owner.auth, "PATCH", `/projects/${project.id}`, { settings: { a: 1 } }),
      200,
    );
    expect(changed.settings).toEqual({ a: 1 });
  });

  it("refuses project admins, editors and viewers (403) and strangers (404)", async () => {
    const { project, owner, admin, editor, viewer, stranger } = await team();
    for (const user of [admin, editor, viewer]) {
      await expectProblem(await send(user.auth, "POST", `/projects/${project.id}/archive`), 403);
    }
    await expectProblem(await send(stranger.auth, "POST", `/projects/${project.id}/archive`), 404);
    expect((await readProject(owner.auth, project.id)).archivedAt).toBeNull();

    expect((await send(owner.auth, "POST", `/projects/${project.id}/archive`)).status).toBe(200);
    for (const user of [admin, editor, viewer]) {
      await expectProblem(await send(user.auth, "POST", `/projects/${project.id}/unarchive`), 403);
    }
    await expectProblem(await send(stranger.auth, "POST", `/projects/${project.id}/unarchive`), 404);
    expect((await readProject(owner.auth, project.id)).archivedAt).not.toBeNull();
  });
});

describe("DELETE /projects/{id}", () => {
  it("is the owners' alone: admins, editors and viewers get 403 and the project stays", async () => {
    const { project, owner, admin, editor, viewer } = await team();
    for (const user of [admin, editor, viewer]) {
      await expectProblem(await send(user.auth, "DELETE", `/projects/${project.id}`), 403);
    }
    expect((await readProject(owner.auth, project.id)).id).toBe(project.id);
  });

  it("removes the project for every member at once and revokes its pending invitations", async () => {
    const { project, owner, admin, viewer } = await team();
    const staff = await signedInAdmin();
    const invitee = await signedIn();
    const invitation = await invite(admin.auth, project.id, invitee.user.username, "editor");
    expect((await inboxOf(invitee.auth)).map((i) => i.id)).toEqual([invitation.id]);

    expect((await send(owner.auth, "DELETE", `/projects/${project.id}`)).status).toBe(204);

    for (const user of [owner, admin, viewer, staff]) {
      await expectProblem(await send(user.auth, "GET", `/projects/${project.id}`), 404);
      await expectProblem(await send(user.auth, "GET", `/projects/${project.id}/members`), 404);
    }
    for (const user of [owner, admin, viewer]) {
      expect((await list(user.auth)).data.map((p) => p.id)).not.toContain(project.id);
    }
    await expectProblem(await send(owner.auth, "DELETE", `/projects/${project.id}`), 404);

    // The invitation is revoked, not merely hidden: it can no longer be accepted.
    expect(await inboxOf(invitee.auth)).toEqual([]);
    const refused = await expectProblem(await accept(invitee.auth, invitation.id), 409);
    expect(refused.detail).toMatch(/revoked/);
    expect((await list(invitee.auth)).data).toEqual([]);
  });

  it("lets an owner who is not the creator delete it", async () => {
    const creator = await signedIn();
    const project = await createProject(creator.auth);
    const coOwner = await memberOf(creator.auth, project.id, "owner");
    expect((await send(coOwner.auth, "DELETE", `/projects/${project.id}`)).status).toBe(204);
    await expectProblem(await send(creator.auth, "GET", `/projects/${project.id}`), 404);
  });
});
