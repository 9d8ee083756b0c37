import { describe, expect, it } from "vitest";
import { signedIn, signedInAdmin } from "../auth-helpers.ts";
import { created, formUpload, rawUpload } from "../document-helpers.ts";
import { api, expectProblem } from "../helpers.ts";

const put = (auth: Record<string, string>, id: string, user: string, access: "read" | "write") =>
  api(`/documents/${id}/shares`, {
    method: "PUT",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ user, access }),
  });

const sharesOf = async (auth: Record<string, string>, id: string) =>
  ((await (await api(`/documents/${id}/shares`, { headers: auth })).json()) as { data: { access: string }[] }).data.map(
    (share) => share.access,
  );

// PUT is idempotent and replaces the share (RFC 9110 §9.3.4): the row-level security policies once
// allowed inserting and deleting shares but not updating one, so a second PUT answered 500.
describe("changing a share", () => {
  it("a second PUT with the same access is 200, and read → write takes effect", async () => {
    const owner = await signedIn();
    const colleague = await signedIn();
    const doc = await created(rawUpload(owner.auth, "shared twice", "text/plain"));
    expect((await put(owner.auth, doc.id, colleague.user.username, "read")).status).toBe(200);
    expect((await put(owner.auth, doc.id, colleague.user.username, "read")).status).toBe(200);
    expect(await sharesOf(owner.auth, doc.id)).toEqual(["read"]);

    expect((await put(owner.auth, doc.id, colleague.user.username, "write")).status).toBe(200);
    expect(await sharesOf(owner.auth, doc.id)).toEqual(["write"]);
    // The colleague can write now.
    const version = await formUpload(
      colleague.auth,
      { bytes: "their edit", type: "text/plain", name: "edit.txt" },
      {},
      `/documents/${doc.id}/versions`,
    );
    expect(version.status).toBe(201);

    expect((await put(owner.auth, doc.id, colleague.user.username, "read")).status).toBe(200);
    expect(await sharesOf(owner.auth, doc.id)).toEqual(["read"]);
  });

  it("the owner changes and removes a share an admin granted", async () => {
    const owner = await signedIn();
    const colleague = await signedIn();
    const admin = await signedInAdmin();
    const doc = await created(rawUpload(owner.auth, "shared by an admin", "text/plain"));
    expect((await put(admin.auth, doc.id, colleague.user.username, "read")).status).toBe(200);

    expect((await put(owner.auth, doc.id, colleague.user.username, "write")).status).toBe(200);
    expect(await sharesOf(owner.auth, doc.id)).toEqual(["write"]);
    const removed = await api(`/documents/${doc.id}/shares/${colleague.user.id}`, {
      method: "DELETE",
      headers: owner.auth,
    });
    expect(removed.status).toBe(204);
    expect(await sharesOf(owner.auth, doc.id)).toEqual([]);
  });

  it("someone with a share who does not manage the document is told so (403) when removing another's share", async () => {
    const owner = await signedIn();
    const editor = await signedIn();
    const reader = await signedIn();
    const doc = await created(rawUpload(owner.auth, "shared with two", "text/plain"));
    expect((await put(owner.auth, doc.id, editor.user.username, "write")).status).toBe(200);
    expect((await put(owner.auth, doc.id, reader.user.username, "read")).status).toBe(200);
    const problem = await expectProblem(
      await api(`/documents/${doc.id}/shares/${reader.user.id}`, { method: "DELETE", headers: editor.auth }),
      403,
    );
    expect(problem.detail).toMatch(/owner or an admin/);
    expect(await sharesOf(owner.auth, doc.id)).toHaveLength(2);
    // Leaving is theirs to do.
    const left = await api(`/documents/${doc.id}/shares/${editor.user.id}`, { method: "DELETE", headers: editor.auth });
    expect(left.status).toBe(204);
  });
});
