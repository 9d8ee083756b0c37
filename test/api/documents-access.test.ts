import { describe, expect, it } from "vitest";
import { promote, signedIn } from "../auth-helpers.ts";
import { created, type DocumentJson, getDocument, keysIn, processed, rawUpload } from "../document-helpers.ts";
import { api, eventually, expectProblem, testEnv } from "../helpers.ts";

const stackEnv = testEnv as unknown as Record<string, string>;
const json = (auth: Record<string, string>, method: string, body: unknown): RequestInit => ({
  method,
  headers: { ...auth, "content-type": "application/json" },
  body: JSON.stringify(body),
});

interface Page {
  data: DocumentJson[];
  nextCursor: string | null;
}

async function page(auth: Record<string, string>, query: string): Promise<Page> {
  const res = await api(`/documents?${query}`, { headers: auth });
  if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`);
  return (await res.json()) as Page;
}

describe("another user's document", () => {
  it("is a 404 on every route, and absent from lists", async () => {
    const owner = await signedIn();
    const stranger = await signedIn();
    const doc = await created(rawUpload(owner.auth, "private notes", "text/plain", { title: "private" }));
    const id = doc.id;
    const attempts: [string, RequestInit][] = [
      [`/documents/${id}`, { headers: stranger.auth }],
      [`/documents/${id}/content`, { headers: stranger.auth }],
      [`/documents/${id}/thumbnail`, { headers: stranger.auth }],
      [`/documents/${id}/versions`, { headers: stranger.auth }],
      [`/documents/${id}/shares`, { headers: stranger.auth }],
      [`/documents/${id}`, json(stranger.auth, "PATCH", { title: "mine now" })],
      [`/documents/${id}`, { method: "DELETE", headers: stranger.auth }],
      [`/documents/${id}/versions/1/restore`, { method: "POST", headers: stranger.auth }],
      [`/documents/${id}/shares`, json(stranger.auth, "PUT", { user: stranger.user.username, access: "write" })],
    ];
    for (const [path, init] of attempts) {
      const problem = await expectProblem(await api(path, init), 404);
      expect(problem.type, `${init.method ?? "GET"} ${path}`).toBe("/problems/not_found");
    }
    const upload = await rawUpload(stranger.auth, "v2", "text/plain", { path: `/documents/${id}/versions` });
    await expectProblem(upload, 404);
    expect((await page(stranger.auth, `owner=${owner.user.id}`)).data).toEqual([]);
    // Untouched.
    expect(await getDocument(owner.auth, id)).toMatchObject({ title: "private", currentVersion: 1 });
  });
});

describe("sharing", () => {
  it("gives read or write access to named users, and takes it back", async () => {
    const owner = await signedIn();
    const reader = await signedIn();
    const writer = await signedIn();
    const doc = await created(rawUpload(owner.auth, "shared plan", "text/plain", { title: "plan" }));
    await processed(owner.auth, doc.id);

    const share = async (user: string, access: string) =>
      api(`/documents/${doc.id}/shares`, json(owner.auth, "PUT", { user, access }));
    expect((await share(reader.user.email, "read")).status).toBe(200);
    expect((await share(writer.user.username, "write")).status).toBe(200);
    const res = await api(`/documents/${doc.id}/shares`, { headers: owner.auth });
    const shares = (await res.json()) as { data: { userId: string; username: string; access: string }[] };
    expect(shares.data.map((s) => [s.username, s.access])).toEqual([
      [reader.user.username, "read"],
      [writer.user.username, "write"],
    ]);

    // The reader reads, downloads and lists it, but changes nothing.
    expect((await getDocument(reader.auth, doc.id)).title).toBe("plan");
    expect((await api(`/documents/${doc.id}/content`, { headers: reader.auth })).status).toBe(200);
    expect((await page(reader.auth, "")).data.map((d) => d.id)).toEqual([doc.id]);
    await expectProblem(await api(`/documents/${doc.id}`, json(reader.auth, "PATCH", { title: "x" })), 403);
    await expectProblem(
      await rawUpload(reader.auth, "v2", "text/plain", { path: `/documents/${doc.id}/versions` }),
      403,
    );
    await expectProblem(await api(`/documents/${doc.id}/shares`, { headers: reader.auth }), 403);

    // The writer changes it and uploads versions, but neither deletes nor reshares it.
    const renamed = await api(
      `/documents/${doc.id}`,
      json(writer.auth, "PATCH", { title: "plan v2", tags: ["draft"] }),
    );
    expect(((await renamed.json()) as DocumentJson).title).toBe("plan v2");
    expect(
      (await rawUpload(writer.auth, "second", "text/plain", { path: `/documents/${doc.id}/versions` })).status,
    ).toBe(201);
    await expectProblem(await api(`/documents/${doc.id}`, { method: "DELETE", headers: writer.auth }), 403);
    await expectProblem(
      await api(
        `/documents/${doc.id}/shares`,
        json(writer.auth, "PUT", { user: reader.user.username, access: "write" }),
      ),
      403,
    );

    // Unsharing: by the owner, or the reader leaving.
    expect(
      (await api(`/documents/${doc.id}/shares/${reader.user.id}`, { method: "DELETE", headers: reader.auth })).status,
    ).toBe(204);
    await expectProblem(await api(`/documents/${doc.id}`, { headers: reader.auth }), 404);
    expect(
      (await api(`/documents/${doc.id}/shares/${writer.user.id}`, { method: "DELETE", headers: owner.auth })).status,
    ).toBe(204);
    await expectProblem(await api(`/documents/${doc.id}`, { headers: writer.auth }), 404);
  });

  it("validates the share request, but not whether the user exists (that is not disclosed)", async () => {
    const owner = await signedIn();
    const doc = await created(rawUpload(owner.auth, "x", "text/plain", { title: "x" }));
    for (const user of ["nobody-here", owner.user.username]) {
      const res = await api(`/documents/${doc.id}/shares`, json(owner.auth, "PUT", { user, access: "read" }));
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ user, access: "read" });
    }
    expect((await (await api(`/documents/${doc.id}/shares`, { headers: owner.auth })).json()) as unknown).toEqual({
      data: [],
    });
    const badAccess = await expectProblem(
      await api(`/documents/${doc.id}/shares`, json(owner.auth, "PUT", { user: "x", access: "admin" })),
      400,
    );
    expect(badAccess.errors?.[0]?.pointer).toBe("/access");
  });
});

describe("administrators", () => {
  it("read, change and delete any document; users with documents:read only read", async () => {
    const owner = await signedIn();
    const admin = await signedIn();
    const auditor = await signedIn();
    await promote(admin.user.id, { role: "admin" });
    await promote(auditor.user.id, { permissions: ["documents:read"] });
    const doc = await created(rawUpload(owner.auth, "anything", "text/plain", { title: "owned" }));

    expect((await getDocument(auditor.auth, doc.id)).id).toBe(doc.id);
    await expectProblem(await api(`/documents/${doc.id}`, json(auditor.auth, "PATCH", { title: "audited" })), 403);
    expect((await page(admin.auth, `owner=${owner.user.id}`)).data.map((d) => d.id)).toEqual([doc.id]);
    expect((await api(`/documents/${doc.id}`, json(admin.auth, "PATCH", { tags: ["reviewed"] }))).status).toBe(200);
    expect((await api(`/documents/${doc.id}`, { method: "DELETE", headers: admin.auth })).status).toBe(204);
    await expectProblem(await api(`/documents/${doc.id}`, { headers: owner.auth }), 404);
  });

  it("reprocess a document (documents:manage); others may not", async () => {
    const owner = await signedIn();
    const operator = await signedIn();
    await promote(operator.user.id, { permissions: ["documents:manage", "documents:read"] });
    const doc = await created(rawUpload(owner.auth, "run me again", "text/plain", { title: "again" }));
    await processed(owner.auth, doc.id);

    await expectProblem(await api(`/documents/${doc.id}/reprocess`, { method: "POST", headers: owner.auth }), 403);
    const res = await api(`/documents/${doc.id}/reprocess`, { method: "POST", headers: operator.auth });
    expect(res.status).toBe(202);
    expect(((await res.json()) as DocumentJson).status).toBe("pending");
    const again = await processed(owner.auth, doc.id);
    expect(again.status).toBe("ready");
    // Two runs, two ready notifications.
    await eventually(async () => {
      const body = (await (await api("/notifications", { headers: owner.auth })).json()) as { data: unknown[] };
      return body.data.length === 2 ? true : undefined;
    });
  });
});

describe("GET /documents", () => {
  it("pages by keyset without duplicates or gaps, and filters", async () => {
    const { auth, user } = await signedIn();
    const made: DocumentJson[] = [];
    for (let i = 0; i < 7; i++) {
      const type = i % 2 === 0 ? "text/plain" : "text/markdown";
      made.push(
        await created(rawUpload(auth, `document ${i}`, type, { title: `doc ${i}`, tags: i < 3 ? "alpha" : "beta" })),
      );
    }
    const seen: string[] = [];
    let cursor: string | null = "";
    while (cursor !== null) {
      const next: Page = await page(auth, `limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...next.data.map((d) => d.id));
      cursor = next.nextCursor;
    }
    expect(seen).toEqual(made.map((d) => d.id).reverse());

    expect((await page(auth, "tag=alpha")).data.map((d) => d.title).sort()).toEqual(["doc 0", "doc 1", "doc 2"]);
    expect((await page(auth, "tag=ALPHA")).data).toHaveLength(3);
    expect((await page(auth, "type=text/markdown")).data).toHaveLength(3);
    expect((await page(auth, `owner=${user.id}&tag=beta&type=text/plain`)).data.map((d) => d.title).sort()).toEqual([
      "doc 4",
      "doc 6",
    ]);
    const middle = made[3]?.createdAt ?? "";
    expect((await page(auth, `createdFrom=${encodeURIComponent(middle)}`)).data).toHaveLength(4);
    // A half-open range: from inclusive, to exclusive.
    expect((await page(auth, `createdTo=${encodeURIComponent(middle)}`)).data).toHaveLength(3);
    await eventually(async () => ((await page(auth, "status=ready")).data.length === 7 ? true : undefined));
    expect((await page(auth, "status=pending")).data).toEqual([]);
  });

  it("validates its query", async () => {
    const { auth } = await signedIn();
    const problem = await expectProblem(
      await api("/documents?limit=500&status=lost&cursor=abc", { headers: auth }),
      400,
    );
    expect(problem.errors?.map((e) => e.pointer).sort()).toEqual(["/limit", "/status"]);
    const cursor = await expectProblem(await api("/documents?cursor=not-ours", { headers: auth }), 400);
    expect(cursor.errors).toEqual([{ in: "query", pointer: "/cursor", message: "not a cursor this API returned" }]);
  });
});

describe("PATCH and DELETE /documents/{id}", () => {
  it("updates title and tags, and validates", async () => {
    const { auth } = await signedIn();
    const doc = await created(rawUpload(auth, "x", "text/plain", { title: "before" }));
    const res = await api(
      `/documents/${doc.id}`,
      json(auth, "PATCH", { title: "  after ", tags: ["One", "one", "two"] }),
    );
    expect(await res.json()).toMatchObject({ title: "after", tags: ["one", "two"] });
    await expectProblem(await api(`/documents/${doc.id}`, json(auth, "PATCH", {})), 400);
    const extra = await expectProblem(await api(`/documents/${doc.id}`, json(auth, "PATCH", { ownerId: doc.id })), 400);
    expect(extra.errors?.length).toBeGreaterThan(0);
  });

  it("deletes softly and keeps the objects for a restore (the sweeper's purge removes them)", async () => {
    const { auth } = await signedIn();
    const doc = await created(rawUpload(auth, "to be deleted", "text/plain", { title: "bye" }));
    await processed(auth, doc.id);
    expect(await keysIn(stackEnv, `documents/${doc.id}/`)).toHaveLength(1);
    expect((await api(`/documents/${doc.id}`, { method: "DELETE", headers: auth })).status).toBe(204);
    await expectProblem(await api(`/documents/${doc.id}`, { headers: auth }), 404);
    await expectProblem(await api(`/documents/${doc.id}`, { method: "DELETE", headers: auth }), 404);
    expect(await keysIn(stackEnv, `documents/${doc.id}/`)).toHaveLength(1);
  });
});
