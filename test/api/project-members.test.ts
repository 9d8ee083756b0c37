import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { asActor } from "../../src/db/actor.ts";
import { openDatabase } from "../../src/db/client.ts";
import { deleteMemberStatement, updateMemberRoleStatement } from "../../src/db/queries/projects.ts";
import { loadApiConfig } from "../../src/pkg/config/config.ts";
import { signedIn, signedInAdmin, uniqueName } from "../auth-helpers.ts";
import { asSystem, eventually, expectProblem, testEnv } from "../helpers.ts";
import {
  createProject,
  expectJson,
  join,
  type MemberJson,
  memberOf,
  membersOf,
  type ProjectRole,
  readProject,
  removeMember,
  rolesIn,
  send,
  setRole,
  signedInAs,
  team,
  type User,
} from "../project-helpers.ts";

const transfer = (auth: Record<string, string>, projectId: string, userId: string) =>
  send(auth, "POST", `/projects/${projectId}/transfer`, { userId });

describe("GET /projects/{id}/members", () => {
  it("lists owners, admins, editors and viewers in that order, each by username, with their fields", async () => {
    const prefix = `m${crypto.randomUUID().slice(0, 8)}`;
    const owner = await signedInAs(`${prefix}-z-owner`);
    const project = await createProject(owner.auth);
    // Usernames chosen so that ordering by username alone would give another order.
    const users: [User, ProjectRole][] = [
      [await signedInAs(`${prefix}-a-viewer`), "viewer"],
      [await signedInAs(`${prefix}-c-editor`), "editor"],
      [await signedInAs(`${prefix}-b-editor`), "editor"],
      [await signedInAs(`${prefix}-d-admin`), "admin"],
      [await signedInAs(`${prefix}-y-owner`), "owner"],
    ];
    for (const [user, role] of users) await join(owner.auth, project.id, user, role);

    for (const [reader] of users) {
      const res = await send(reader.auth, "GET", `/projects/${project.id}/members`);
      expect(res.headers.get("cache-control")).toBe("no-store");
      const { data } = await expectJson<{ data: MemberJson[] }>(res, 200);
      expect(data.map((m) => [m.username, m.role])).toEqual([
        [`${prefix}-y-owner`, "owner"],
        [`${prefix}-z-owner`, "owner"],
        [`${prefix}-d-admin`, "admin"],
        [`${prefix}-b-editor`, "editor"],
        [`${prefix}-c-editor`, "editor"],
        [`${prefix}-a-viewer`, "viewer"],
      ]);
    }
    const members = await membersOf(owner.auth, project.id);
    const viewer = members.find((m) => m.role === "viewer");
    expect(viewer).toEqual({
      userId: users[0]?.[0].user.id,
      username: `${prefix}-a-viewer`,
      displayName: null,
      role: "viewer",
      addedBy: owner.user.id,
      joinedAt: expect.any(String),
    });
    expect(Number.isNaN(Date.parse(viewer?.joinedAt ?? ""))).toBe(false);
    expect(members.find((m) => m.userId === owner.user.id)?.addedBy).toBe(owner.user.id);
  });

  it("answers an administrator who is not a member, and refuses strangers with 404", async () => {
    const { project, owner, stranger } = await team();
    const staff = await signedInAdmin();
    expect((await membersOf(staff.auth, project.id)).map((m) => m.role)).toEqual([
      "owner",
      "admin",
      "editor",
      "viewer",
    ]);
    await expectProblem(await send(stranger.auth, "GET", `/projects/${project.id}/members`), 404);
    expect((await membersOf(owner.auth, project.id)).map((m) => m.userId)).not.toContain(stranger.user.id);
  });
});

describe("PATCH /projects/{id}/members/{userId}", () => {
  it("owners change anyone to any role, including making and unmaking owners", async () => {
    const { project, owner, admin, editor, viewer } = await team();
    const promoted = await expectJson<MemberJson>(await setRole(owner.auth, project.id, editor.user.id, "admin"), 200);
    expect(promoted).toMatchObject({ userId: editor.user.id, username: editor.user.username, role: "admin" });
    await expectJson(await setRole(owner.auth, project.id, viewer.user.id, "owner"), 200);
    await expectJson(await setRole(owner.auth, project.id, admin.user.id, "viewer"), 200);
    // The new owner demotes the old one.
    await expectJson(await setRole(viewer.auth, project.id, owner.user.id, "editor"), 200);
    expect(await rolesIn(viewer.auth, project.id)).toEqual({
      [owner.user.id]: "editor",
      [admin.user.id]: "viewer",
      [editor.user.id]: "admin",
      [viewer.user.id]: "owner",
    });
    expect((await readProject(owner.auth, project.id)).role).toBe("editor");
  });

  it("project admins change non-owners among admin, editor and viewer", async () => {
    const { project, owner, admin, editor, viewer } = await team();
    const other = await memberOf(owner.auth, project.id, "admin");
    await expectJson(await setRole(admin.auth, project.id, editor.user.id, "viewer"), 200);
    await expectJson(await setRole(admin.auth, project.id, viewer.user.id, "admin"), 200);
    await expectJson(await setRole(admin.auth, project.id, other.user.id, "editor"), 200);
    expect(await rolesIn(owner.auth, project.id)).toMatchObject({
      [editor.user.id]: "viewer",
      [viewer.user.id]: "admin",
      [other.user.id]: "editor",
    });
  });

  it("refuses a project admin changing an owner or making an owner (403); nothing changes", async () => {
    const { project, owner, admin, editor } = await team();
    const before = await rolesIn(owner.auth, project.id);
    const onOwner = await expectProblem(await setRole(admin.auth, project.id, owner.user.id, "viewer"), 403);
    expect(onOwner.detail).toMatch(/owner/);
    await expectProblem(await setRole(admin.auth, project.id, editor.user.id, "owner"), 403);
    await expectProblem(await setRole(admin.auth, project.id, admin.user.id, "owner"), 403);
    expect(await rolesIn(owner.auth, project.id)).toEqual(before);
  });

  it("refuses editors and viewers (403), even on themselves, and strangers (404)", async () => {
    const { project, owner, editor, viewer, stranger } = await team();
    const before = await rolesIn(owner.auth, project.id);
    await expectProblem(await setRole(editor.auth, project.id, viewer.user.id, "editor"), 403);
    await expectProblem(await setRole(editor.auth, project.id, editor.user.id, "admin"), 403);
    await expectProblem(await setRole(viewer.auth, project.id, viewer.user.id, "editor"), 403);
    await expectProblem(await setRole(stranger.auth, project.id, viewer.user.id, "editor"), 404);
    expect(await rolesIn(owner.auth, project.id)).toEqual(before);
  });

  it("refuses demoting the last owner with 409; with a second owner the first steps down", async () => {
    const { project, owner, admin } = await team();
    const problem = await expectProblem(await setRole(owner.auth, project.id, owner.user.id, "admin"), 409);
    expect(problem.detail).toMatch(/owner/);
    expect((await rolesIn(owner.auth, project.id))[owner.user.id]).toBe("owner");

    await expectJson(await setRole(owner.auth, project.id, admin.user.id, "owner"), 200);
    await expectJson(await setRole(owner.auth, project.id, owner.user.id, "admin"), 200);
    await expectProblem(await setRole(admin.auth, project.id, admin.user.id, "viewer"), 409);
    expect(await rolesIn(admin.auth, project.id)).toMatchObject({
      [owner.user.id]: "admin",
      [admin.user.id]: "owner",
    });
  });

  it("answers the same role with 200 and no change, works while archived, and 404s a non-member", async () => {
    const { project, owner, editor, stranger } = await team();
    const same = await expectJson<MemberJson>(await setRole(owner.auth, project.id, editor.user.id, "editor"), 200);
    expect(same.role).toBe("editor");
    expect((await send(owner.auth, "POST", `/projects/${project.id}/archive`)).status).toBe(200);
    expect(
      (await expectJson<MemberJson>(await setRole(owner.auth, project.id, editor.user.id, "viewer"), 200)).role,
    ).toBe("viewer");
    await expectProblem(await setRole(owner.auth, project.id, stranger.user.id, "viewer"), 404);
    await expectProblem(await setRole(owner.auth, project.id, crypto.randomUUID(), "viewer"), 404);
    expect(await rolesIn(owner.auth, project.id)).not.toHaveProperty(stranger.user.id);
  });

  it.each([
    ["an unknown role", { role: "superuser" }],
    ["no role", {}],
    ["an extra field", { role: "viewer", userId: "00000000-0000-4000-8000-000000000000" }],
  ])("refuses %s with 400", async (_, body) => {
    const { project, owner, editor } = await team();
    await expectProblem(
      await send(owner.auth, "PATCH", `/projects/${project.id}/members/${editor.user.id}`, body),
      400,
    );
    expect((await rolesIn(owner.auth, project.id))[editor.user.id]).toBe("editor");
  });
});

describe("DELETE /projects/{id}/members/{userId}", () => {
  it("an owner removes a member, who then gets 404 on the project and no longer lists it", async () => {
    const { project, owner, editor } = await team();
    expect((await removeMember(owner.auth, project.id, editor.user.id)).status).toBe(204);
    await expectProblem(await send(editor.auth, "GET", `/projects/${project.id}`), 404);
    await expectProblem(await send(editor.auth, "GET", `/projects/${project.id}/members`), 404);
    const listed = await expectJson<{ data: { id: string }[] }>(await send(editor.auth, "GET", "/projects"), 200);
    expect(listed.data.map((p) => p.id)).not.toContain(project.id);
    expect(await rolesIn(owner.auth, project.id)).not.toHaveProperty(editor.user.id);
    // Removing them again: they are not a member.
    await expectProblem(await removeMember(owner.auth, project.id, editor.user.id), 404);
  });

  it("a project admin removes non-owners (admins included) but not an owner (403)", async () => {
    const { project, owner, admin, editor, viewer } = await team();
    const other = await memberOf(owner.auth, project.id, "admin");
    expect((await removeMember(admin.auth, project.id, viewer.user.id)).status).toBe(204);
    expect((await removeMember(admin.auth, project.id, other.user.id)).status).toBe(204);
    const problem = await expectProblem(await removeMember(admin.auth, project.id, owner.user.id), 403);
    expect(problem.detail).toMatch(/owner/);
    expect(await rolesIn(owner.auth, project.id)).toEqual({
      [owner.user.id]: "owner",
      [admin.user.id]: "admin",
      [editor.user.id]: "editor",
    });
  });

  it("refuses editors and viewers removing others (403) and strangers (404)", async () => {
    const { project, owner, admin, editor, viewer, stranger } = await team();
    const before = await rolesIn(owner.auth, project.id);
    await expectProblem(await removeMember(editor.auth, project.id, viewer.user.id), 403);
    await expectProblem(await removeMember(viewer.auth, project.id, editor.user.id), 403);
    await expectProblem(await removeMember(editor.auth, project.id, admin.user.id), 403);
    await expectProblem(await removeMember(stranger.auth, project.id, viewer.user.id), 404);
    expect(await rolesIn(owner.auth, project.id)).toEqual(before);
  });

  it("any member leaves with their own id; afterwards the project is a 404 to them", async () => {
    const { project, owner, admin, editor, viewer } = await team();
    for (const user of [viewer, editor, admin]) {
      expect((await removeMember(user.auth, project.id, user.user.id)).status).toBe(204);
      await expectProblem(await send(user.auth, "GET", `/projects/${project.id}`), 404);
      await expectProblem(await removeMember(user.auth, project.id, user.user.id), 404);
    }
    expect(await rolesIn(owner.auth, project.id)).toEqual({ [owner.user.id]: "owner" });
  });

  it("refuses the last owner leaving (409); with another owner they leave", async () => {
    const { project, owner, admin, editor, viewer } = await team();
    const problem = await expectProblem(await removeMember(owner.auth, project.id, owner.user.id), 409);
    expect(problem.detail).toMatch(/owner/);
    expect((await readProject(owner.auth, project.id)).role).toBe("owner");

    await expectJson(await setRole(owner.auth, project.id, admin.user.id, "owner"), 200);
    expect((await removeMember(owner.auth, project.id, owner.user.id)).status).toBe(204);
    await expectProblem(await send(owner.auth, "GET", `/projects/${project.id}`), 404);
    expect(await rolesIn(admin.auth, project.id)).toEqual({
      [admin.user.id]: "owner",
      [editor.user.id]: "editor",
      [viewer.user.id]: "viewer",
    });
  });

  it("an owner removes another owner; an administrator who is not a member cannot 'leave'", async () => {
    const { project, owner } = await team();
    const coOwner = await memberOf(owner.auth, project.id, "owner");
    expect((await removeMember(coOwner.auth, project.id, owner.user.id)).status).toBe(204);
    const staff = await signedInAdmin();
    await expectProblem(await removeMember(staff.auth, project.id, staff.user.id), 404);
    expect((await rolesIn(coOwner.auth, project.id))[coOwner.user.id]).toBe("owner");
  });
});

describe("POST /projects/{id}/transfer", () => {
  it("makes the member an owner and the caller an admin, in one step", async () => {
    const { project, owner, editor, viewer } = await team();
    const res = await transfer(owner.auth, project.id, editor.user.id);
    const { data } = await expectJson<{ data: MemberJson[] }>(res, 200);
    expect(data.map((m) => [m.userId, m.role])).toEqual(
      expect.arrayContaining([
        [editor.user.id, "owner"],
        [owner.user.id, "admin"],
        [viewer.user.id, "viewer"],
      ]),
    );
    expect(data.filter((m) => m.role === "owner").map((m) => m.userId)).toEqual([editor.user.id]);
    expect((await readProject(owner.auth, project.id)).role).toBe("admin");
    // The former owner may no longer archive; the new one may.
    await expectProblem(await send(owner.auth, "POST", `/projects/${project.id}/archive`), 403);
    expect((await send(editor.auth, "POST", `/projects/${project.id}/archive`)).status).toBe(200);
  });

  it("refuses a transfer to a non-member (404) or to oneself (409), changing nothing", async () => {
    const { project, owner, stranger } = await team();
    const before = await rolesIn(owner.auth, project.id);
    await expectProblem(await transfer(owner.auth, project.id, stranger.user.id), 404);
    await expectProblem(await transfer(owner.auth, project.id, crypto.randomUUID()), 404);
    await expectProblem(await transfer(owner.auth, project.id, owner.user.id), 409);
    await expectProblem(await transfer(owner.auth, project.id, owner.user.id.toUpperCase()), 409);
    expect(await rolesIn(owner.auth, project.id)).toEqual(before);
  });

  it("refuses project admins, editors and viewers (403), staff who are not members (403) and strangers (404)", async () => {
    const { project, owner, admin, editor, viewer, stranger } = await team();
    const staff = await signedInAdmin();
    const before = await rolesIn(owner.auth, project.id);
    for (const user of [admin, editor, viewer, staff]) {
      await expectProblem(await transfer(user.auth, project.id, user === admin ? editor.user.id : admin.user.id), 403);
    }
    await expectProblem(await transfer(stranger.auth, project.id, stranger.user.id), 404);
    expect(await rolesIn(owner.auth, project.id)).toEqual(before);
  });

  it("refuses a body without a uuid (400)", async () => {
    const { project, owner } = await team();
    await expectProblem(await send(owner.auth, "POST", `/projects/${project.id}/transfer`, { userId: "bob" }), 400);
    await expectProblem(await send(owner.auth, "POST", `/projects/${project.id}/transfer`, {}), 400);
  });
});

/** Every response of a race is a success or one of the refusals a race may give, never a 5xx. */
async function settled(responses: Response[], refusals: number[]): Promise<number[]> {
  const statuses = [];
  for (const res of responses) {
    if (res.status < 300) {
      await res.arrayBuffer();
    } else {
      expect(refusals, `unexpected ${res.status}`).toContain(res.status);
      await expectProblem(res, res.status);
    }
    statuses.push(res.status);
  }
  return statuses;
}

const ownersOf = async (auth: Record<string, string>, projectId: string) =>
  (await membersOf(auth, projectId)).filter((m) => m.role === "owner").map((m) => m.userId);

describe("simultaneous changes", () => {
  it("several changes to one member at once: each answered 2xx, 404 or 409, the member ends in one requested state", async () => {
    const { project, owner, editor } = await team();
    const coOwner = await memberOf(owner.auth, project.id, "owner");
    const staff = await signedInAdmin();
    const responses = await Promise.all([
      setRole(owner.auth, project.id, editor.user.id, "viewer"),
      setRole(coOwner.auth, project.id, editor.user.id, "admin"),
      setRole(owner.auth, project.id, editor.user.id, "owner"),
      setRole(coOwner.auth, project.id, editor.user.id, "editor"),
      removeMember(owner.auth, project.id, editor.user.id),
    ]);
    const statuses = await settled(responses, [404, 409]);
    const roles = await rolesIn(staff.auth, project.id);
    const requested = ["viewer", "admin", "owner", "editor"] as const;
    if (statuses[4] === 204) {
      // Removed: no role change can bring them back (each one after it is a 404).
      expect(roles[editor.user.id]).toBeUndefined();
    } else {
      // Still a member, in a role one of the changes that succeeded asked for (or as they were).
      const granted = requested.filter((_, i) => statuses[i] === 200);
      expect(granted.length > 0 ? granted : ["editor"]).toContain(roles[editor.user.id]);
    }
    expect(Object.values(roles)).toContain("owner");
  });

  it("two owners leaving at once: one leaves, the other is refused with 409; the project keeps an owner", async () => {
    const staff = await signedInAdmin();
    const rounds = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const first = await signedIn();
        const project = await createProject(first.auth, { name: uniqueName("Race") });
        const second = await memberOf(first.auth, project.id, "owner");
        const responses = await Promise.all([
          removeMember(first.auth, project.id, first.user.id),
          removeMember(second.auth, project.id, second.user.id),
        ]);
        const statuses = await settled(responses, [409]);
        return { statuses, owners: await ownersOf(staff.auth, project.id) };
      }),
    );
    for (const { statuses, owners } of rounds) {
      expect(owners).toHaveLength(1);
      expect(statuses.sort()).toEqual([204, 409]);
    }
  });

  it("two owners stepping down at once: one does, the other is refused with 409; the project keeps an owner", async () => {
    const staff = await signedInAdmin();
    const rounds = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const first = await signedIn();
        const project = await createProject(first.auth, { name: uniqueName("Race") });
        const second = await memberOf(first.auth, project.id, "owner");
        const responses = await Promise.all([
          setRole(first.auth, project.id, first.user.id, "admin"),
          setRole(second.auth, project.id, second.user.id, "editor"),
        ]);
        const statuses = await settled(responses, [409]);
        return { statuses, owners: await ownersOf(staff.auth, project.id) };
      }),
    );
    for (const { statuses, owners } of rounds) {
      expect(owners).toHaveLength(1);
      expect(statuses.sort()).toEqual([200, 409]);
    }
  });

  it("two owners demoting each other at once: the project keeps an owner and no 200 claims a change not made", async () => {
    const staff = await signedInAdmin();
    const rounds = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const first = await signedIn();
        const project = await createProject(first.auth, { name: uniqueName("Race") });
        const second = await memberOf(first.auth, project.id, "owner");
        const responses = await Promise.all([
          setRole(first.auth, project.id, second.user.id, "viewer"),
          setRole(second.auth, project.id, first.user.id, "viewer"),
        ]);
        const bodies = await Promise.all(responses.map((res) => res.clone().text()));
        // The second change may find its author no longer an owner: a 403, as any refused role.
        const statuses = await settled(responses, [403, 409]);
        return { statuses, bodies, owners: await ownersOf(staff.auth, project.id) };
      }),
    );
    for (const { statuses, bodies, owners } of rounds) {
      expect(owners).toHaveLength(1);
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      bodies.forEach((body, i) => {
        if (statuses[i] === 200) expect((JSON.parse(body) as MemberJson).role).toBe("viewer");
      });
    }
  });
});

/** Whether some session waits for a lock that the backend `pid` holds, right now. */
const blockedBy = (pid: number) =>
  asSystem(async (tx) => {
    const result = await tx.execute<{ waiting: number }>(
      sql`select count(*)::int as waiting from pg_stat_activity where ${pid} = any(pg_blocking_pids(pid))`,
    );
    return (result.rows[0]?.waiting ?? 0) > 0 ? true : undefined;
  });

/** A promise and the function that resolves it. */
function deferred<T>() {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

// The deferred owner check runs as each transaction commits and cannot see a change another
// transaction has not committed yet. These interleave the two by hand: the first change is made in
// a transaction of the test's own and checked (SET CONSTRAINTS … IMMEDIATE, which locks the
// project's row) before it commits, the moment of a real race where one check has run and its
// transaction not committed; the second comes through the API meanwhile. Before the check locked
// the project's row, both committed and the project had no owner.
describe("a member change made while another is about to commit", () => {
  it.each([
    ["the second owner leaving", "leave", 409],
    ["the second owner stepping down", "step down", 409],
    ["the second owner demoting the first, who demoted them", "demote", 409],
  ] as const)("%s waits for the first and is refused; the project keeps an owner", async (_, second, status) => {
    const a = await signedIn();
    const project = await createProject(a.auth, { name: uniqueName("Interleaved") });
    const b = await memberOf(a.auth, project.id, "owner");
    const staff = await signedInAdmin();
    const handle = openDatabase(loadApiConfig(testEnv).database);
    const gate = deferred<void>();
    const backend = deferred<number>();
    try {
      const actor = { kind: "user", userId: a.user.id, role: "user", permissions: [] } as const;
      const first = asActor(handle.db, actor, async (tx) => {
        if (second === "demote") {
          await updateMemberRoleStatement(tx, { projectId: project.id, userId: b.user.id, role: "viewer" });
        } else {
          await deleteMemberStatement(tx, { projectId: project.id, userId: a.user.id });
        }
        await tx.execute(sql`set constraints project_members_owner immediate`);
        const pid = await tx.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`);
        backend.resolve(pid.rows[0]?.pid ?? -1);
        await gate.promise;
      });
      const pid = await backend.promise;
      const request =
        second === "leave"
          ? removeMember(b.auth, project.id, b.user.id)
          : second === "step down"
            ? setRole(b.auth, project.id, b.user.id, "admin")
            : setRole(b.auth, project.id, a.user.id, "viewer");
      let answered = false;
      void request.finally(() => {
        answered = true;
      });
      // Without the row lock the request is answered now; with it, it waits for the first transaction.
      await eventually(async () => (answered || (await blockedBy(pid)) ? true : undefined));
      gate.resolve();
      await first;
      await expectProblem(await request, status);
      const remaining = second === "demote" ? a.user.id : b.user.id;
      expect(await ownersOf(staff.auth, project.id)).toEqual([remaining]);
    } finally {
      gate.resolve();
      await handle.close();
    }
  });
});
