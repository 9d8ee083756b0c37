import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { asActor } from "../../src/db/actor.ts";
import { openDatabase } from "../../src/db/client.ts";
import { deleteProjectStatements } from "../../src/db/queries/projects.ts";
import { loadApiConfig } from "../../src/pkg/config/config.ts";
import { register, signedIn, uniqueName } from "../auth-helpers.ts";
import { type DocumentJson, rawUpload } from "../document-helpers.ts";
import { api, apiWith, asSystem, expectProblem, testEnv } from "../helpers.ts";
import {
  type Auth,
  accept,
  createProject,
  expectJson,
  type InvitationJson,
  invite,
  memberOf,
  removeMember,
  send,
} from "../project-helpers.ts";

// What the review of the Project Service found, each proven closed: what an invitation tells its
// inviter, access kept through a share after leaving, what the activity feed shows by role, a
// deletion racing an archive, settings that grow, how many projects a user owns, uploads into a
// project that changed, names with invisible characters, an acceptance racing a revocation.

const filed = async (auth: Auth, projectId: string, text = "filed") =>
  expectJson<DocumentJson>(
    await rawUpload(auth, text, "text/plain", { path: `/documents?${new URLSearchParams({ projectId })}` }),
    201,
  );

describe("invitations name the login they were addressed to", () => {
  it("inviting by email never tells the inviter the username behind it", async () => {
    const owner = await signedIn();
    const email = `${uniqueName("hidden")}@example.com`;
    const { user } = await register({ email });
    const project = await createProject(owner.auth);
    const invitation = await invite(owner.auth, project.id, email, "viewer");
    expect(invitation.invitee).toEqual({ id: user.id, login: email });
    expect(JSON.stringify(invitation)).not.toContain(user.username);
    const pending = await expectJson<{ data: InvitationJson[] }>(
      await send(owner.auth, "GET", `/projects/${project.id}/invitations`),
      200,
    );
    expect(JSON.stringify(pending.data)).not.toContain(user.username);
  });
});

describe("leaving a project takes its documents with it", () => {
  it("an admin cannot share a project's document with themselves, and loses shares others gave when removed", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const admin = await memberOf(owner.auth, project.id, "admin");
    const doc = await filed(owner.auth, project.id);

    // A share with oneself changes nothing (the same answer as for an unknown login).
    await send(admin.auth, "PUT", `/documents/${doc.id}/shares`, { user: admin.user.username, access: "write" });
    const shares = await expectJson<{ data: { userId: string }[] }>(
      await send(owner.auth, "GET", `/documents/${doc.id}/shares`),
      200,
    );
    expect(shares.data.map((share) => share.userId)).not.toContain(admin.user.id);

    // A share the owner gave them goes with their membership.
    expect(
      (await send(owner.auth, "PUT", `/documents/${doc.id}/shares`, { user: admin.user.username, access: "write" }))
        .status,
    ).toBe(200);
    expect((await removeMember(owner.auth, project.id, admin.user.id)).status).toBe(204);
    await expectProblem(await api(`/documents/${doc.id}`, { headers: admin.auth }), 404);
  });

  it("an archived project's owner still ends shares", async () => {
    const owner = await signedIn();
    const outsider = await signedIn();
    const project = await createProject(owner.auth);
    const doc = await filed(owner.auth, project.id);
    await send(owner.auth, "PUT", `/documents/${doc.id}/shares`, { user: outsider.user.username, access: "read" });
    expect((await send(owner.auth, "POST", `/projects/${project.id}/archive`)).status).toBe(200);
    expect((await send(owner.auth, "DELETE", `/documents/${doc.id}/shares/${outsider.user.id}`)).status).toBe(204);
    await expectProblem(await api(`/documents/${doc.id}`, { headers: outsider.auth }), 404);
  });
});

describe("the activity feed by role", () => {
  it("shows invitations and shares to owners and admins only", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const viewer = await memberOf(owner.auth, project.id, "viewer");
    const outsider = await signedIn();
    const doc = await filed(owner.auth, project.id);
    await send(owner.auth, "PUT", `/documents/${doc.id}/shares`, { user: outsider.user.username, access: "read" });
    await invite(owner.auth, project.id, (await signedIn()).user.username, "editor");

    const actions = async (auth: Auth) =>
      (
        await expectJson<{ data: { action: string }[] }>(
          await send(auth, "GET", `/projects/${project.id}/activity?limit=100`),
          200,
        )
      ).data.map((row) => row.action);
    expect(await actions(owner.auth)).toEqual(expect.arrayContaining(["member.invited", "document.shared"]));
    const seen = await actions(viewer.auth);
    expect(seen).toContain("document.uploaded");
    expect(seen).not.toContain("member.invited");
    expect(seen).not.toContain("document.shared");
  });
});

describe("deleting a project", () => {
  it("deletes nothing once the project is archived, even when the route's check came before the archive", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const doc = await filed(owner.auth, project.id);
    expect((await send(owner.auth, "POST", `/projects/${project.id}/archive`)).status).toBe(200);
    // The route's batch as it runs after a check that passed before the archive committed.
    const handle = openDatabase(loadApiConfig(testEnv).database);
    try {
      const actor = { kind: "user", userId: owner.user.id, role: "user", permissions: [] } as const;
      const deleted = await asActor(handle.db, actor, async (tx) => {
        const statements = deleteProjectStatements(tx, { id: project.id });
        const rows = await statements.asCaller;
        await tx.execute(sql`select set_config('app.role', 'system', true)`);
        for (const statement of statements.asSystem) await statement;
        return rows;
      });
      expect(deleted).toEqual([]);
    } finally {
      await handle.close();
    }
    expect((await api(`/documents/${doc.id}`, { headers: owner.auth })).status).toBe(200);
    await expectProblem(await send(owner.auth, "DELETE", `/projects/${project.id}`), 409);
  });
});

describe("limits", () => {
  it("keeps the merged settings within 16 KiB, not only each patch", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const big = "x".repeat(6000);
    expect((await send(owner.auth, "PATCH", `/projects/${project.id}`, { settings: { a: big } })).status).toBe(200);
    expect((await send(owner.auth, "PATCH", `/projects/${project.id}`, { settings: { b: big } })).status).toBe(200);
    await expectProblem(await send(owner.auth, "PATCH", `/projects/${project.id}`, { settings: { c: big } }), 400);
  });

  it("counts the projects a user owns (PROJECTS_PER_USER), exactly under concurrent creations", async () => {
    const { auth } = await signedIn();
    const limits = { PROJECTS_PER_USER: "2" } as Partial<Env> & object;
    const create = () =>
      apiWith(limits, "/projects", {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ name: uniqueName("Capped") }),
      });
    const answers = await Promise.all([create(), create(), create(), create()]);
    expect(answers.map((res) => res.status).sort()).toEqual([201, 201, 403, 403]);
    const refused = (await expectProblem(answers.find((res) => res.status === 403) ?? answers[0], 403)) as unknown as {
      quota: string;
      limit: number;
    };
    expect(refused).toMatchObject({ quota: "projects", limit: 2 });
  });

  it("refuses names with control or format characters", async () => {
    const { auth } = await signedIn();
    for (const name of ["\u202Eevil", "tab\tname", "\u200B"]) {
      await expectProblem(await send(auth, "POST", "/projects", { name }), 400);
    }
  });
});

describe("resumable uploads into a project that changed", () => {
  const hex = (bytes: ArrayBuffer) => [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");

  async function startWithItsPart(auth: Auth, projectId: string, text: string) {
    const bytes = new TextEncoder().encode(text);
    const sha256 = hex(await crypto.subtle.digest("SHA-256", bytes));
    const upload = await expectJson<{ id: string }>(
      await send(auth, "POST", "/uploads", { contentType: "text/plain", size: bytes.length, sha256, projectId }),
      201,
    );
    const part = await api(`/uploads/${upload.id}/parts/1`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/octet-stream" },
      body: bytes,
    });
    expect(part.status).toBe(200);
    return upload.id;
  }

  it("keeps the upload when the project was archived meanwhile (409), and completes it once unarchived", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const id = await startWithItsPart(owner.auth, project.id, "held while archived");
    expect((await send(owner.auth, "POST", `/projects/${project.id}/archive`)).status).toBe(200);
    await expectProblem(await send(owner.auth, "POST", `/uploads/${id}/complete`), 409);
    expect((await send(owner.auth, "GET", `/uploads/${id}`)).status).toBe(200);
    expect((await send(owner.auth, "POST", `/projects/${project.id}/unarchive`)).status).toBe(200);
    expect((await send(owner.auth, "POST", `/uploads/${id}/complete`)).status).toBe(201);
  });

  it("releases a removed member's open uploads from the project's quota", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const editor = await memberOf(owner.auth, project.id, "editor");
    const text = "0123456789".repeat(3);
    await startWithItsPart(editor.auth, project.id, text);
    const limits = { PROJECT_QUOTA_BYTES: String(text.length + 10) } as Partial<Env> & object;
    const declare = () =>
      apiWith(limits, "/uploads", {
        method: "POST",
        headers: { ...owner.auth, "content-type": "application/json" },
        body: JSON.stringify({ contentType: "text/plain", size: 20, sha256: "0".repeat(64), projectId: project.id }),
      });
    await expectProblem(await declare(), 413);
    expect((await removeMember(owner.auth, project.id, editor.user.id)).status).toBe(204);
    expect((await declare()).status).toBe(201);
  });
});

describe("an acceptance racing a revocation", () => {
  it("never ends with both: a member whose invitation the owner was told is revoked", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    for (let round = 0; round < 6; round += 1) {
      const invitee = await signedIn();
      const invitation = await invite(owner.auth, project.id, invitee.user.username, "viewer");
      const [accepted, revoked] = await Promise.all([
        accept(invitee.auth, invitation.id),
        send(owner.auth, "DELETE", `/projects/${project.id}/invitations/${invitation.id}`),
      ]);
      const member = await asSystem(
        async (tx) =>
          (
            await tx.execute<{ n: number }>(
              sql`select count(*)::int as n from project_members where project_id = ${project.id} and user_id = ${invitee.user.id}`,
            )
          ).rows[0]?.n,
      );
      // Exactly one of the two took effect, and each answer says which.
      expect([accepted.status, revoked.status, member]).toSatisfy(
        ([a, r, m]: number[]) => (a === 200 && r === 404 && m === 1) || (a === 409 && r === 204 && m === 0),
      );
    }
  });
});
