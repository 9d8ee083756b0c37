import { describe, expect, it } from "vitest";
import { register, signedIn, signedInAdmin, uniqueName } from "../auth-helpers.ts";
import { created, formUpload, rawUpload } from "../document-helpers.ts";
import { api, apiWith, expectProblem } from "../helpers.ts";

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
    expect(problem.detail).toMatch(/owner .*admin/);
    expect(await sharesOf(owner.auth, doc.id)).toHaveLength(2);
    // Leaving is theirs to do.
    const left = await api(`/documents/${doc.id}/shares/${editor.user.id}`, { method: "DELETE", headers: editor.auth });
    expect(left.status).toBe(204);
  });

  // RFC 9562 §4: a UUID's hex digits compare case-insensitively; the route compared the path as
  // sent with the caller's id and refused to let them leave.
  it("leaving with one's own id written in uppercase is leaving (and the document's id too)", async () => {
    const owner = await signedIn();
    const reader = await signedIn();
    const doc = await created(rawUpload(owner.auth, "left in capitals", "text/plain"));
    expect((await put(owner.auth, doc.id, reader.user.username, "read")).status).toBe(200);
    const left = await api(`/documents/${doc.id.toUpperCase()}/shares/${reader.user.id.toUpperCase()}`, {
      method: "DELETE",
      headers: reader.auth,
    });
    expect(left.status, await left.clone().text()).toBe(204);
    expect(await sharesOf(owner.auth, doc.id)).toEqual([]);
  });
});

// OWASP ASVS V2.2 / API3 (excessive data exposure): sharing by email address must not tell the
// sharer whether the address has an account, nor which username it has.
describe("sharing with an address that may or may not have an account", () => {
  /** Status, content type and body of an answer, with nothing that differs per request. */
  async function answer(res: Response) {
    const text = await res.text();
    const body = JSON.parse(text) as Record<string, unknown>;
    delete body.requestId;
    delete body.instance;
    return { status: res.status, type: res.headers.get("content-type"), etag: res.headers.get("etag"), body, text };
  }

  it("answers the same for a known address, an unknown one and the owner's own, never naming the username", async () => {
    const owner = await signedIn();
    const username = uniqueName("hidden");
    const known = `${uniqueName("known")}@example.org`;
    await register({ email: known, username });
    const unknown = `${uniqueName("unknown")}@example.org`;
    const doc = await created(rawUpload(owner.auth, "shared by address", "text/plain"));

    const answers = [];
    for (const address of [known, unknown, owner.user.email]) {
      const result = await answer(await put(owner.auth, doc.id, address, "read"));
      expect(result.text).not.toContain(username);
      answers.push({ ...result, text: undefined, body: { ...result.body, user: "(as sent)" } });
    }
    expect(answers[0]).toEqual(answers[1]);
    expect(answers[0]).toEqual(answers[2]);
    expect(answers[0]).toMatchObject({ status: 200, body: { user: "(as sent)", access: "read" } });
  });

  it("fails a stale If-Match the same way whether or not the address has an account", async () => {
    const owner = await signedIn();
    const known = `${uniqueName("known")}@example.org`;
    await register({ email: known });
    const doc = await created(rawUpload(owner.auth, "conditional share", "text/plain"));
    const stale = { "if-match": '"0000"' };
    const tries = [];
    for (const address of [known, `${uniqueName("unknown")}@example.org`]) {
      const res = await api(`/documents/${doc.id}/shares`, {
        method: "PUT",
        headers: { ...owner.auth, ...stale, "content-type": "application/json" },
        body: JSON.stringify({ user: address, access: "read" }),
      });
      const problem = await expectProblem(res, 412);
      tries.push({ type: problem.type, detail: problem.detail });
    }
    expect(tries[0]).toEqual(tries[1]);
  });
});

describe("sharing is rate-limited", () => {
  it("answers 429 once the sharing policy's window is used up, so addresses cannot be tried in bulk", async () => {
    const owner = await signedIn();
    const doc = await created(rawUpload(owner.auth, "shared in bulk", "text/plain"));
    const policies = {
      RATE_LIMIT_POLICIES: JSON.stringify({
        api: [{ name: "burst", limit: 1_000_000, windowSeconds: 10 }],
        sharing: [{ name: "burst", limit: 3, windowSeconds: 60 }],
      }),
    };
    const statuses = [];
    for (let i = 0; i < 4; i++) {
      const res = await apiWith(policies as Partial<Env> & object, `/documents/${doc.id}/shares`, {
        method: "PUT",
        headers: { ...owner.auth, "content-type": "application/json" },
        body: JSON.stringify({ user: `${uniqueName("guess")}@example.org`, access: "read" }),
      });
      statuses.push(res.status);
      if (res.status === 429) expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
  });
});
