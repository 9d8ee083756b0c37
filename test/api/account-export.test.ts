import { describe, expect, it } from "vitest";
import { EXPORT_PAGE_ROWS } from "../../src/db/queries/accounts.ts";
import { createDocument } from "../../src/db/queries/documents.ts";
import { json } from "../account-helpers.ts";
import { login, PASSWORD, randomIp, signedIn, signedInAdmin } from "../auth-helpers.ts";
import { created, formUpload } from "../document-helpers.ts";
import { api, asSystem, expectProblem } from "../helpers.ts";

interface ExportJson {
  exportedAt: string;
  profile: { id: string; email: string };
  projectMemberships: { projectId: string; role: string }[];
  documents: { id: string; title: string }[];
  notifications: { userId: string }[];
  securityEvents: { action: string; actorId: string | null; ip: string | null; userAgent: string | null }[];
}

const exportOf = (auth: Record<string, string>) => api("/users/me/export", { headers: auth });

describe("GET /users/me/export", () => {
  it("happy and security: a downloadable archive of exactly my data, not a sharer's", async () => {
    const me = await signedIn();
    const sharer = await signedIn();
    const mine = await created(
      formUpload(me.auth, { bytes: "# mine\n", type: "text/markdown", name: "mine.md" }, { title: "My own notes" }),
    );
    const theirs = await created(
      formUpload(
        sharer.auth,
        { bytes: "# shared\n", type: "text/markdown", name: "s.md" },
        { title: "Shared with me" },
      ),
    );
    const secret = await created(
      formUpload(
        sharer.auth,
        { bytes: "# private\n", type: "text/markdown", name: "p.md" },
        { title: "Sharer private plans" },
      ),
    );
    const share = await api(
      `/documents/${theirs.id}/shares`,
      json("PUT", sharer.auth, { user: me.user.email, access: "read" }),
    );
    expect(share.status).toBe(200);
    const project = (await (await api("/projects", json("POST", me.auth, { name: "Exported project" }))).json()) as {
      id: string;
    };
    await api(
      "/users/me/password",
      json("POST", me.auth, { currentPassword: PASSWORD, newPassword: "another passphrase 99" }),
    );

    const res = await exportOf(me.auth);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("content-disposition")).toMatch(
      /^attachment; filename="techcorp-account-\d{4}-\d{2}-\d{2}\.json"$/,
    );
    expect(res.headers.get("cache-control")).toBe("no-store");
    const text = await res.text();
    const archive = JSON.parse(text) as ExportJson;

    expect(archive.profile).toMatchObject({ id: me.user.id, email: me.user.email });
    expect(archive.documents.map((d) => d.id)).toEqual([mine.id]);
    expect(archive.documents[0]?.title).toBe("My own notes");
    expect(archive.projectMemberships).toEqual([expect.objectContaining({ projectId: project.id, role: "owner" })]);
    for (const notification of archive.notifications) expect(notification.userId).toBe(me.user.id);
    const actions = archive.securityEvents.map((e) => e.action);
    expect(actions).toContain("user.password_changed");
    expect(actions).toContain("user.data_exported");
    // The shared document is not mine to export (a notification about it may name it); nothing of
    // the sharer's own data is there.
    expect(archive.documents.map((d) => d.id)).not.toContain(theirs.id);
    for (const foreign of [secret.id, "Sharer private plans"]) expect(text).not.toContain(foreign);
  });

  it("security: an administrator's address and user agent stay out of my archive, as in my security events", async () => {
    const admin = await signedInAdmin();
    const { user } = await signedIn();
    const adminIp = randomIp();
    const adminAgent = "admin-console/7.3";
    const fromAdmin = { ...admin.auth, "cf-connecting-ip": adminIp, "user-agent": adminAgent };
    expect((await api(`/users/${user.id}/disable`, { method: "POST", headers: fromAdmin })).status).toBe(200);
    expect((await api(`/users/${user.id}/enable`, { method: "POST", headers: fromAdmin })).status).toBe(200);
    // The disable ended the user's sessions: they sign in again, from their own address.
    const tokens = await login(user.username);
    const myIp = randomIp();
    const res = await api("/users/me/export", {
      headers: { authorization: `Bearer ${tokens.access_token}`, "cf-connecting-ip": myIp },
    });
    expect(res.status).toBe(200);
    const text = await res.text();
    const archive = JSON.parse(text) as ExportJson;
    const byAdmin = archive.securityEvents.filter((event) => event.actorId === admin.user.id);
    expect(byAdmin.map((event) => event.action)).toEqual(expect.arrayContaining(["user.disabled", "user.enabled"]));
    for (const event of byAdmin) expect(event).toMatchObject({ ip: null, userAgent: null });
    expect(text).not.toContain(adminIp);
    expect(text).not.toContain(adminAgent);
    // What I did myself keeps my address.
    const exported = archive.securityEvents.find((event) => event.action === "user.data_exported");
    expect(exported).toMatchObject({ actorId: user.id, ip: myIp });
  });

  it("happy: more documents than a page are all there, each once", async () => {
    const me = await signedIn();
    const count = EXPORT_PAGE_ROWS + 3;
    await asSystem(async (tx) => {
      for (let i = 0; i < count; i++) {
        const id = crypto.randomUUID();
        await createDocument(tx, {
          id,
          ownerId: me.user.id,
          projectId: null,
          title: `bulk ${i}`,
          tags: [],
          file: {
            storageKey: `documents/${id}/bulk`,
            contentType: "text/plain",
            sizeBytes: 1,
            sha256: "0".repeat(64),
            filename: null,
          },
        });
      }
    });
    const archive = (await (await exportOf(me.auth)).json()) as ExportJson;
    expect(archive.documents).toHaveLength(count);
    expect(new Set(archive.documents.map((d) => d.id)).size).toBe(count);
  });

  it("error: needs a token; security: at most two a minute", async () => {
    await expectProblem(await exportOf({}), 401);
    const me = await signedIn();
    for (let i = 0; i < 2; i++) {
      const res = await exportOf(me.auth);
      expect(res.status).toBe(200);
      expect(JSON.parse(await res.text())).toHaveProperty("profile");
    }
    const refused = await exportOf(me.auth);
    await expectProblem(refused, 429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});
