import { runInDurableObject } from "cloudflare:test";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { documents } from "../../src/db/schema/documents.ts";
import { projects } from "../../src/db/schema/projects.ts";
import { users } from "../../src/db/schema/users.ts";
import type { Sessions } from "../../src/durable-objects/sessions.ts";
import { json, securityEventsAbout } from "../account-helpers.ts";
import { bearer, login, PASSWORD, refresh, signedIn, signedInAdmin, tokenRequest } from "../auth-helpers.ts";
import { created, formUpload } from "../document-helpers.ts";
import { api, asSystem, expectProblem, testEnv } from "../helpers.ts";

/** Makes every session of the user look signed in to `ageMs` ago (the clock cannot be moved). */
async function ageSessions(userId: string, ageMs: number): Promise<void> {
  const stub = testEnv.SESSIONS.get(testEnv.SESSIONS.idFromName(userId)) as DurableObjectStub<Sessions>;
  await runInDurableObject(stub, (_instance, state) => {
    state.storage.sql.exec("update sessions set created_at = created_at - ?", ageMs);
  });
}

const deleteMe = (auth: Record<string, string>) => api("/users/me", { method: "DELETE", headers: auth });

describe("DELETE /users/me", () => {
  it("happy: a fresh sign-in deletes the account: disabled, sessions ended, personal documents and sole projects deleted", async () => {
    const leaving = await signedIn();
    const otherDevice = await login(leaving.user.username);
    const partner = await signedIn();
    const doc = await created(formUpload(leaving.auth, { bytes: "# mine\n", type: "text/markdown", name: "mine.md" }));
    const sole = (await (await api("/projects", json("POST", leaving.auth, { name: "Mine alone" }))).json()) as {
      id: string;
    };

    const res = await deleteMe(leaving.auth);
    expect(res.status).toBe(204);

    await expectProblem(await api("/users/me", { headers: leaving.auth }), 401);
    await expectProblem(await api("/users/me", { headers: bearer(otherDevice.access_token) }), 401);
    expect((await refresh(otherDevice.refresh_token)).status).toBe(400);
    expect(
      (await tokenRequest({ grant_type: "password", username: leaving.user.username, password: PASSWORD })).status,
    ).toBe(400);
    expect((await api("/users/me", { headers: partner.auth })).status).toBe(200);

    const state = await asSystem(async (tx) => ({
      user: (await tx.select().from(users).where(eq(users.id, leaving.user.id)))[0],
      doc: (await tx.select().from(documents).where(eq(documents.id, doc.id)))[0],
      project: (await tx.select().from(projects).where(eq(projects.id, sole.id)))[0],
    }));
    expect(state.user).toMatchObject({ status: "disabled" });
    expect(state.user?.deletionRequestedAt).toBeInstanceOf(Date);
    expect(state.doc?.deletedAt).toBeInstanceOf(Date);
    expect(state.project?.deletedAt).toBeInstanceOf(Date);
    const events = await securityEventsAbout(leaving.user.id);
    expect(events.find((e) => e.action === "user.deleted")).toMatchObject({ actorId: leaving.user.id });
  });

  it("security: an account being erased takes no administrator's change: it cannot be enabled to sign in again", async () => {
    const admin = await signedInAdmin();
    const leaving = await signedIn();
    expect((await deleteMe(leaving.auth)).status).toBe(204);
    for (const [path, init] of [
      [`/users/${leaving.user.id}/enable`, { method: "POST", headers: admin.auth }],
      [`/users/${leaving.user.id}/role`, json("PUT", admin.auth, { role: "admin" })],
      [`/users/${leaving.user.id}/password`, json("PUT", admin.auth, { password: "a temporary horse battery staple" })],
    ] as const) {
      const refused = await expectProblem(await api(path, init), 409);
      expect(refused.detail).toContain("being erased");
    }
    expect(
      (await tokenRequest({ grant_type: "password", username: leaving.user.username, password: PASSWORD })).status,
    ).toBe(400);
  });

  it("security: a stale session cannot delete the account (RFC 9470 insufficient_user_authentication)", async () => {
    const { auth, user } = await signedIn();
    await ageSessions(user.id, 10 * 60_000);
    const res = await deleteMe(auth);
    const problem = (await expectProblem(res, 401)) as unknown as { type: string; max_age: number };
    expect(problem.type).toBe("/problems/insufficient_user_authentication");
    expect(problem.max_age).toBe(300);
    expect(res.headers.get("www-authenticate")).toMatch(
      /^Bearer realm="techcorp-api", error="insufficient_user_authentication", error_description="[^"]+", max_age=300$/,
    );
    // Nothing happened: the session still works, and a new sign-in can delete.
    expect((await api("/users/me", { headers: auth })).status).toBe(200);
    const fresh = bearer((await login(user.username)).access_token);
    expect((await deleteMe(fresh)).status).toBe(204);
  });

  it("error: without a token, 401; a token of a deleted account, 401", async () => {
    await expectProblem(await deleteMe({}), 401);
    const { auth } = await signedIn();
    expect((await deleteMe(auth)).status).toBe(204);
    await expectProblem(await deleteMe(auth), 401);
  });

  it("security: a refreshed token keeps the sign-in time of its session", async () => {
    const { user, tokens } = await signedIn();
    await ageSessions(user.id, 10 * 60_000);
    const refreshed = (await (await refresh(tokens.refresh_token)).json()) as { access_token: string };
    await expectProblem(await deleteMe(bearer(refreshed.access_token)), 401);
  });

  it("error: an admin cannot delete their own account here (409), it stays active and signed in", async () => {
    const admin = await signedInAdmin();
    const refused = await expectProblem(await deleteMe(admin.auth), 409);
    expect(refused.detail).toMatch(/another admin/);
    const me = await api("/users/me", { headers: admin.auth });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ role: "admin", status: "active" });
  });
});
