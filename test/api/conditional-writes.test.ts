import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { updateDocument } from "../../src/db/queries/documents.ts";
import { updateUser } from "../../src/db/queries/users.ts";
import { signedIn, signedInAdmin } from "../auth-helpers.ts";
import { created, type DocumentJson, formUpload, keysIn, processed, rawUpload } from "../document-helpers.ts";
import { api, asSystem, expectProblem, testEnv } from "../helpers.ts";

// Lost-update protection (RFC 9110 §13.1.1, §13.1.4, §13.2.2): every write to a document, a user
// or a webhook evaluates If-Match / If-Unmodified-Since against the current state, in the
// transaction that writes, and answers 412 without changing anything when they do not hold.
// These failed before: the headers were ignored and every write went through.

type Headers = Record<string, string>;

/** A resource and one write to it, as a normal client (owner, write-share user, or admin) sees them. */
interface Target {
  /** The resource's ETag, Last-Modified and a snapshot of its state, read by the writer. */
  read(): Promise<{ etag: string; lastModified: string | null; state: unknown }>;
  /** The write under test, with the conditional headers given. */
  write(conditions: Headers): Promise<Response>;
  /** Another client changes the resource without conditions. */
  changeElsewhere(): Promise<void>;
  /** What the write answers on success. */
  status: number;
  /** False when the write removes the resource (DELETE). */
  remains: boolean;
  /** Waits until nothing changes the resource in the background (document processing). */
  settle(): Promise<void>;
}

const jsonInit = (method: string, auth: Headers, body: unknown, extra: Headers = {}): RequestInit => ({
  method,
  headers: { ...auth, ...extra, "content-type": "application/json" },
  body: JSON.stringify(body),
});

async function readResource(path: string, auth: Headers) {
  const res = await api(path, { headers: auth });
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  const etag = res.headers.get("etag");
  if (!etag) throw new Error(`GET ${path} has no ETag`);
  return { etag, lastModified: res.headers.get("last-modified"), state: await res.json() };
}

/** A ready document owned by one normal user and shared for writing with another. */
async function sharedDocument() {
  const owner = await signedIn();
  const editor = await signedIn();
  const doc = await created(rawUpload(owner.auth, "first version", "text/plain", { title: "Plan" }));
  const share = await api(
    `/documents/${doc.id}/shares`,
    jsonInit("PUT", owner.auth, { user: editor.user.username, access: "write" }),
  );
  if (share.status !== 200) throw new Error(`share: ${share.status} ${await share.text()}`);
  await processed(owner.auth, doc.id);
  return { owner, editor, doc };
}

const S3 = testEnv as unknown as Record<string, string>;

/** The document's state: its metadata, its versions and its stored objects. */
async function documentState(auth: Headers, id: string) {
  const res = await api(`/documents/${id}`, { headers: auth });
  const versions = await api(`/documents/${id}/versions`, { headers: auth });
  return {
    status: res.status,
    document: res.status === 200 ? await res.json() : undefined,
    versions: versions.status === 200 ? ((await versions.json()) as { data: unknown[] }).data.length : undefined,
    objects: (await keysIn(S3, `documents/${id}/`)).sort(),
  };
}

function documentTarget(
  write: (ctx: Awaited<ReturnType<typeof sharedDocument>>, conditions: Headers) => Promise<Response>,
  options: { status: number; remains: boolean; writer: "owner" | "editor" },
): () => Promise<Target> {
  return async () => {
    const ctx = await sharedDocument();
    const writer = ctx[options.writer].auth;
    const path = `/documents/${ctx.doc.id}`;
    return {
      async read() {
        const { etag, lastModified } = await readResource(path, writer);
        return { etag, lastModified, state: await documentState(ctx.owner.auth, ctx.doc.id) };
      },
      write: (conditions) => write(ctx, conditions),
      async changeElsewhere() {
        const res = await api(path, jsonInit("PATCH", ctx.owner.auth, { title: `Renamed ${crypto.randomUUID()}` }));
        if (res.status !== 200) throw new Error(`rename: ${res.status}`);
      },
      status: options.status,
      remains: options.remains,
      async settle() {
        if ((await api(path, { headers: ctx.owner.auth })).status === 200) await processed(ctx.owner.auth, ctx.doc.id);
      },
    };
  };
}

function userTarget(
  kind: "self" | "admin",
  write: (ctx: { id: string; auth: Headers }, conditions: Headers) => Promise<Response>,
  options: { status?: number; remains?: boolean } = {},
): () => Promise<Target> {
  return async () => {
    const subject = await signedIn();
    const writer = kind === "self" ? subject.auth : (await signedInAdmin()).auth;
    const path = kind === "self" ? "/users/me" : `/users/${subject.user.id}`;
    const ctx = { id: subject.user.id, auth: writer };
    return {
      async read() {
        const { etag, lastModified } = await readResource(path, writer);
        const now = await api(path, { headers: writer });
        return {
          etag,
          lastModified,
          state: { status: now.status, body: now.status === 200 ? await now.json() : undefined },
        };
      },
      write: (conditions) => write(ctx, conditions),
      async changeElsewhere() {
        const res = await api(path, jsonInit("PATCH", writer, { bio: `changed ${crypto.randomUUID()}` }));
        if (res.status !== 200) throw new Error(`change: ${res.status} ${await res.text()}`);
      },
      status: options.status ?? 200,
      remains: options.remains ?? true,
      settle: async () => {},
    };
  };
}

function webhookTarget(
  write: (ctx: { path: string; auth: Headers }, conditions: Headers) => Promise<Response>,
  options: { status: number; remains: boolean },
): () => Promise<Target> {
  return async () => {
    const me = await signedIn();
    const res = await api("/webhooks", jsonInit("POST", me.auth, { url: "https://example.com/hook", events: [] }));
    if (res.status !== 201) throw new Error(`webhook: ${res.status} ${await res.text()}`);
    const { id } = (await res.json()) as { id: string };
    const ctx = { path: `/webhooks/${id}`, auth: me.auth };
    return {
      async read() {
        const { etag, lastModified } = await readResource(ctx.path, me.auth);
        const now = await api(ctx.path, { headers: me.auth });
        return {
          etag,
          lastModified,
          state: { status: now.status, body: now.status === 200 ? await now.json() : undefined },
        };
      },
      write: (conditions) => write(ctx, conditions),
      async changeElsewhere() {
        const changed = await api(
          ctx.path,
          jsonInit("PATCH", me.auth, { url: `https://example.com/${crypto.randomUUID()}` }),
        );
        if (changed.status !== 200) throw new Error(`change: ${changed.status}`);
      },
      status: options.status,
      remains: options.remains,
      settle: async () => {},
    };
  };
}

/** A document shared for reading with one user; the owner changes its shares. */
function sharesTarget(
  write: (
    ctx: { id: string; owner: Headers; someone: { id: string; username: string } },
    conditions: Headers,
  ) => Promise<Response>,
  options: { status: number; remains: boolean },
): () => Promise<Target> {
  return async () => {
    const owner = await signedIn();
    const someone = await signedIn();
    const doc = await created(rawUpload(owner.auth, "shared", "text/plain"));
    const put = (user: string, access: string) =>
      api(`/documents/${doc.id}/shares`, jsonInit("PUT", owner.auth, { user, access }));
    if ((await put(someone.user.username, "read")).status !== 200) throw new Error("share failed");
    const path = `/documents/${doc.id}/shares`;
    const ctx = { id: doc.id, owner: owner.auth, someone: { id: someone.user.id, username: someone.user.username } };
    return {
      read: () => readResource(path, owner.auth),
      write: (conditions) => write(ctx, conditions),
      async changeElsewhere() {
        const other = await signedIn();
        if ((await put(other.user.username, "read")).status !== 200) throw new Error("share failed");
      },
      status: options.status,
      remains: options.remains,
      settle: async () => {},
    };
  };
}

/** A user's permission list, changed by an administrator. */
function permissionsTarget(
  write: (ctx: { id: string; admin: Headers }, conditions: Headers) => Promise<Response>,
  options: { granted: string[] },
): () => Promise<Target> {
  return async () => {
    const subject = await signedIn();
    const admin = (await signedInAdmin()).auth;
    const path = `/users/${subject.user.id}/permissions`;
    for (const permission of options.granted) {
      if ((await api(`${path}/${permission}`, { method: "PUT", headers: admin })).status !== 200)
        throw new Error("grant");
    }
    return {
      read: () => readResource(path, admin),
      write: (conditions) => write({ id: subject.user.id, admin }, conditions),
      async changeElsewhere() {
        if ((await api(`${path}/analytics:read`, { method: "PUT", headers: admin })).status !== 200)
          throw new Error("grant");
      },
      status: 200,
      remains: true,
      settle: async () => {},
    };
  };
}

/** A normal user's ready document that an operator (here an admin) processes again. */
async function reprocessTarget(): Promise<Target> {
  const owner = await signedIn();
  const admin = (await signedInAdmin()).auth;
  const doc = await created(rawUpload(owner.auth, "again", "text/plain"));
  await processed(owner.auth, doc.id);
  const path = `/documents/${doc.id}`;
  return {
    read: () => readResource(path, admin),
    write: (conditions) => api(`${path}/reprocess`, { method: "POST", headers: { ...admin, ...conditions } }),
    async changeElsewhere() {
      const res = await api(path, jsonInit("PATCH", owner.auth, { title: `Renamed ${crypto.randomUUID()}` }));
      if (res.status !== 200) throw new Error(`rename: ${res.status}`);
    },
    status: 202,
    remains: true,
    settle: async () => void (await processed(owner.auth, doc.id)),
  };
}

const writes: [string, () => Promise<Target>][] = [
  ["POST /documents/{id}/reprocess by an operator", reprocessTarget],
  [
    "PUT /users/{id}/permissions/{permission} by an admin",
    permissionsTarget(
      ({ id, admin }, conditions) =>
        api(`/users/${id}/permissions/documents:read`, { method: "PUT", headers: { ...admin, ...conditions } }),
      { granted: [] },
    ),
  ],
  [
    "DELETE /users/{id}/permissions/{permission} by an admin",
    permissionsTarget(
      ({ id, admin }, conditions) =>
        api(`/users/${id}/permissions/documents:read`, { method: "DELETE", headers: { ...admin, ...conditions } }),
      { granted: ["documents:read"] },
    ),
  ],
  [
    "PUT /documents/{id}/shares by the owner",
    sharesTarget(
      ({ id, owner, someone }, conditions) =>
        api(`/documents/${id}/shares`, jsonInit("PUT", owner, { user: someone.username, access: "write" }, conditions)),
      // The answer carries no ETag of the list: it is the same whether or not the user exists
      // (test/api/document-shares.test.ts), so only the list read afterwards shows the change.
      { status: 200, remains: false },
    ),
  ],
  [
    "DELETE /documents/{id}/shares/{userId} by the owner",
    sharesTarget(
      ({ id, owner, someone }, conditions) =>
        api(`/documents/${id}/shares/${someone.id}`, { method: "DELETE", headers: { ...owner, ...conditions } }),
      { status: 204, remains: false },
    ),
  ],
  [
    "PATCH /documents/{id} by a write-share user",
    documentTarget(
      ({ doc, editor }, conditions) =>
        api(
          `/documents/${doc.id}`,
          jsonInit("PATCH", editor.auth, { title: `Edited ${crypto.randomUUID()}` }, conditions),
        ),
      { status: 200, remains: true, writer: "editor" },
    ),
  ],
  [
    "DELETE /documents/{id} by its owner",
    documentTarget(
      ({ doc, owner }, conditions) =>
        api(`/documents/${doc.id}`, { method: "DELETE", headers: { ...owner.auth, ...conditions } }),
      {
        status: 204,
        remains: false,
        writer: "owner",
      },
    ),
  ],
  [
    "POST /documents/{id}/versions by a write-share user",
    documentTarget(
      ({ doc, editor }, conditions) =>
        formUpload(
          { ...editor.auth, ...conditions },
          { bytes: `next ${crypto.randomUUID()}`, type: "text/plain", name: "v.txt" },
          {},
          `/documents/${doc.id}/versions`,
        ),
      { status: 201, remains: true, writer: "editor" },
    ),
  ],
  [
    "POST /documents/{id}/versions/1/restore by its owner",
    documentTarget(
      ({ doc, owner }, conditions) =>
        api(`/documents/${doc.id}/versions/1/restore`, { method: "POST", headers: { ...owner.auth, ...conditions } }),
      { status: 201, remains: true, writer: "owner" },
    ),
  ],
  [
    "PATCH /users/me",
    userTarget("self", ({ auth }, conditions) =>
      api("/users/me", jsonInit("PATCH", auth, { displayName: `Ada ${crypto.randomUUID().slice(0, 8)}` }, conditions)),
    ),
  ],
  [
    "PATCH /users/{id} by an admin",
    userTarget("admin", ({ id, auth }, conditions) =>
      api(
        `/users/${id}`,
        jsonInit("PATCH", auth, { displayName: `Grace ${crypto.randomUUID().slice(0, 8)}` }, conditions),
      ),
    ),
  ],
  [
    "PUT /users/{id}/role by an admin",
    userTarget("admin", ({ id, auth }, conditions) =>
      api(`/users/${id}/role`, jsonInit("PUT", auth, { role: "admin" }, conditions)),
    ),
  ],
  [
    "POST /users/{id}/disable by an admin",
    userTarget("admin", ({ id, auth }, conditions) =>
      api(`/users/${id}/disable`, { method: "POST", headers: { ...auth, ...conditions } }),
    ),
  ],
  [
    "POST /users/{id}/enable by an admin",
    userTarget("admin", ({ id, auth }, conditions) =>
      api(`/users/${id}/enable`, { method: "POST", headers: { ...auth, ...conditions } }),
    ),
  ],
  [
    "DELETE /users/{id} by an admin",
    userTarget(
      "admin",
      ({ id, auth }, conditions) => api(`/users/${id}`, { method: "DELETE", headers: { ...auth, ...conditions } }),
      { status: 204, remains: false },
    ),
  ],
  [
    "PATCH /webhooks/{id}",
    webhookTarget(
      ({ path, auth }, conditions) =>
        api(
          path,
          jsonInit("PATCH", auth, { active: false, url: `https://example.com/${crypto.randomUUID()}` }, conditions),
        ),
      { status: 200, remains: true },
    ),
  ],
  [
    "DELETE /webhooks/{id}",
    webhookTarget(
      ({ path, auth }, conditions) => api(path, { method: "DELETE", headers: { ...auth, ...conditions } }),
      {
        status: 204,
        remains: false,
      },
    ),
  ],
];

const STRONG = /^"[0-9a-f]{32}"$/;

describe.each(writes)("%s", (_name, make) => {
  it("refuses a stale ETag, a weak ETag and a past If-Unmodified-Since with 412, changing nothing", async () => {
    const target = await make();
    const stale = await target.read();
    expect(stale.etag).toMatch(STRONG);
    await target.changeElsewhere();
    const before = await target.read();
    expect(before.etag).not.toBe(stale.etag);

    const refusals: Headers[] = [
      { "if-match": stale.etag },
      { "if-match": `W/${before.etag}` },
      { "if-match": '"0000", "nope"' },
      // Webhooks keep no modification date, so If-Unmodified-Since does not apply to them
      // (RFC 9110 §13.1.4); see the webhook test below.
      ...(before.lastModified ? [{ "if-unmodified-since": "Mon, 01 Jan 2001 00:00:00 GMT" }] : []),
    ];
    for (const conditions of refusals) {
      const problem = await expectProblem(await target.write(conditions), 412);
      expect(problem.type).toBe("/problems/precondition_failed");
      expect(await target.read(), JSON.stringify(conditions)).toEqual(before);
    }
  });

  it("performs the write with the current ETag, with If-Match: *, and with a current If-Unmodified-Since", async () => {
    const picks: ((now: { etag: string; lastModified: string | null }) => Headers)[] = [
      (now) => ({ "if-match": now.etag }),
      () => ({ "if-match": "*" }),
      // Webhooks keep no modification date: If-Match stands in.
      ({ lastModified }): Headers => (lastModified ? { "if-unmodified-since": lastModified } : { "if-match": "*" }),
    ];
    for (const pick of picks) {
      const target = await make();
      const now = await target.read();
      const res = await target.write(pick(now));
      expect(res.status, await res.clone().text()).toBe(target.status);
      if (target.remains) {
        const etag = res.headers.get("etag");
        expect(etag).toMatch(STRONG);
        expect(etag).not.toBe(now.etag);
        await target.settle();
        expect((await target.read()).etag).not.toBe(now.etag);
      }
    }
  });

  it("lets exactly one of two clients holding the same ETag write", async () => {
    const target = await make();
    const { etag } = await target.read();
    const statuses = (await Promise.all([target.write({ "if-match": etag }), target.write({ "if-match": etag })])).map(
      (res) => res.status,
    );
    expect(statuses.filter((status) => status === target.status)).toHaveLength(1);
    // The other found the change (412), or, after a delete, nothing left to delete (404: a
    // request that fails without its preconditions ignores them, RFC 9110 §13.2.1).
    expect(statuses.filter((status) => status === 412 || (!target.remains && status === 404))).toHaveLength(1);
  });
});

describe("document validators", () => {
  it("GET /documents/{id} sends a strong ETag and Last-Modified that PATCH's response renews", async () => {
    const { owner, doc } = await sharedDocument();
    const res = await api(`/documents/${doc.id}`, { headers: owner.auth });
    const body = (await res.json()) as DocumentJson;
    expect(res.headers.get("etag")).toMatch(STRONG);
    expect(res.headers.get("last-modified")).toBe(
      new Date(Math.floor(Date.parse(body.updatedAt) / 1000) * 1000).toUTCString(),
    );
    const patched = await api(
      `/documents/${doc.id}`,
      jsonInit("PATCH", owner.auth, { title: "Renamed" }, { "if-match": res.headers.get("etag") ?? "" }),
    );
    expect(patched.status).toBe(200);
    const again = await api(`/documents/${doc.id}`, { headers: owner.auth });
    expect(again.headers.get("etag")).toBe(patched.headers.get("etag"));
  });

  it("a new version refused by If-Match stores no byte and leaves no upload intent behind", async () => {
    const { editor, owner, doc } = await sharedDocument();
    const before = await documentState(owner.auth, doc.id);
    const res = await formUpload(
      { ...editor.auth, "if-match": '"stale"' },
      { bytes: "x".repeat(100_000), type: "text/plain", name: "big.txt" },
      {},
      `/documents/${doc.id}/versions`,
    );
    await expectProblem(res, 412);
    expect(await documentState(owner.auth, doc.id)).toEqual(before);
  });

  it("a read-share user gets 403, not 412: preconditions yield to other refusals (RFC 9110 §13.2.1)", async () => {
    const owner = await signedIn();
    const reader = await signedIn();
    const doc = await created(rawUpload(owner.auth, "read me", "text/plain"));
    await api(
      `/documents/${doc.id}/shares`,
      jsonInit("PUT", owner.auth, { user: reader.user.username, access: "read" }),
    );
    await expectProblem(
      await api(`/documents/${doc.id}`, jsonInit("PATCH", reader.auth, { title: "mine" }, { "if-match": '"stale"' })),
      403,
    );
  });
});

describe("two write-share users uploading a version at once with the same ETag", () => {
  it("records one version; the other's object is removed again", async () => {
    const { owner, editor, doc } = await sharedDocument();
    const { etag } = await readResource(`/documents/${doc.id}`, editor.auth);
    const before = await documentState(owner.auth, doc.id);
    const upload = (auth: Headers, text: string) =>
      formUpload(
        { ...auth, "if-match": etag },
        { bytes: text, type: "text/plain", name: "v2.txt" },
        {},
        `/documents/${doc.id}/versions`,
      );
    const statuses = (await Promise.all([upload(editor.auth, "editor's v2"), upload(owner.auth, "owner's v2")])).map(
      (res) => res.status,
    );
    expect(statuses.sort()).toEqual([201, 412]);
    const after = await documentState(owner.auth, doc.id);
    expect(after.versions).toBe((before.versions ?? 0) + 1);
    expect(after.objects).toHaveLength(before.objects.length + 1);
  });
});

describe("user and webhook validators", () => {
  it("GET /users/me and GET /users/{id} send the same strong ETag and Last-Modified of updatedAt", async () => {
    const me = await signedIn();
    const admin = await signedInAdmin();
    const own = await api("/users/me", { headers: me.auth });
    const byAdmin = await api(`/users/${me.user.id}`, { headers: admin.auth });
    const body = (await own.json()) as { updatedAt: string };
    expect(own.headers.get("etag")).toMatch(STRONG);
    expect(byAdmin.headers.get("etag")).toBe(own.headers.get("etag"));
    expect(own.headers.get("last-modified")).toBe(
      new Date(Math.floor(Date.parse(body.updatedAt) / 1000) * 1000).toUTCString(),
    );
  });

  it("a webhook has an ETag but no Last-Modified, so If-Unmodified-Since does not apply to it", async () => {
    const me = await signedIn();
    const res = await api("/webhooks", jsonInit("POST", me.auth, { url: "https://example.com/hook", events: [] }));
    const { id } = (await res.json()) as { id: string };
    const read = await api(`/webhooks/${id}`, { headers: me.auth });
    expect(read.headers.get("etag")).toMatch(STRONG);
    expect(read.headers.get("last-modified")).toBeNull();
    const patched = await api(
      `/webhooks/${id}`,
      jsonInit("PATCH", me.auth, { active: false }, { "if-unmodified-since": "Mon, 01 Jan 2001 00:00:00 GMT" }),
    );
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ active: false });
  });
});

describe("conditional GET of the same resources (RFC 9110 §13.2.2)", () => {
  const resources: [string, () => Promise<{ path: string; auth: Headers }>][] = [
    [
      "GET /documents/{id}",
      async () => {
        const { editor, doc } = await sharedDocument();
        return { path: `/documents/${doc.id}`, auth: editor.auth };
      },
    ],
    ["GET /users/me", async () => ({ path: "/users/me", auth: (await signedIn()).auth })],
    [
      "GET /users/{id}",
      async () => {
        const subject = await signedIn();
        return { path: `/users/${subject.user.id}`, auth: (await signedInAdmin()).auth };
      },
    ],
    [
      "GET /webhooks/{id}",
      async () => {
        const me = await signedIn();
        const res = await api("/webhooks", jsonInit("POST", me.auth, { url: "https://example.com/hook", events: [] }));
        return { path: `/webhooks/${((await res.json()) as { id: string }).id}`, auth: me.auth };
      },
    ],
  ];

  it.each(resources)("%s answers 304 to a matching If-None-Match and 412 to a stale If-Match", async (_name, make) => {
    const { path, auth } = await make();
    const { etag, lastModified } = await readResource(path, auth);
    const unchanged: Headers[] = [
      { "if-none-match": etag },
      { "if-none-match": `"other", W/${etag}` },
      ...(lastModified ? [{ "if-modified-since": lastModified }] : []),
    ];
    for (const conditions of unchanged) {
      const res = await api(path, { headers: { ...auth, ...conditions } });
      expect(res.status, JSON.stringify(conditions)).toBe(304);
      expect(res.headers.get("etag")).toBe(etag);
      expect(await res.text()).toBe("");
    }
    expect((await api(path, { headers: { ...auth, "if-none-match": '"other"' } })).status).toBe(200);
    expect((await api(path, { headers: { ...auth, "if-match": etag } })).status).toBe(200);
    await expectProblem(await api(path, { headers: { ...auth, "if-match": '"stale"' } }), 412);
  });
});

// A transaction that began before another change and writes after it must not date its change
// earlier (updated_at was the transaction's start, now()): Last-Modified went back by as long as
// the transaction had waited, and an If-Unmodified-Since taken in between still held.
describe("a change is dated when it is made, not when its transaction began", () => {
  it("documents and users: updated_at moves forward past the change written meanwhile", async () => {
    const owner = await signedIn();
    const doc = await created(rawUpload(owner.auth, "dated", "text/plain"));
    await processed(owner.auth, doc.id);
    const viewer = { userId: owner.user.id, readsAll: true, writesAll: true };
    const { document, user, meanwhile } = await asSystem(async (tx) => {
      await tx.execute(sql`select 1`);
      // The transaction has begun; another client changes both rows and commits a second later.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const renamed = await api(`/documents/${doc.id}`, jsonInit("PATCH", owner.auth, { title: "Meanwhile" }));
      const profile = await api("/users/me", jsonInit("PATCH", owner.auth, { bio: "meanwhile" }));
      const meanwhile = {
        document: Date.parse(((await renamed.json()) as DocumentJson).updatedAt),
        user: Date.parse(((await profile.json()) as { updatedAt: string }).updatedAt),
      };
      return {
        document: await updateDocument(tx, { id: doc.id, viewer, title: "Later" }),
        user: await updateUser(tx, { id: owner.user.id, changes: { bio: "later" } }),
        meanwhile,
      };
    });
    expect(document?.updatedAt.getTime()).toBeGreaterThan(meanwhile.document);
    expect(user?.updatedAt.getTime()).toBeGreaterThan(meanwhile.user);
  });
});

// Found by a newcomer review: the upload's 201 had no validators, and JSON resources with
// Last-Modified had no Cache-Control, so a browser cache could apply heuristic freshness
// (RFC 9111 §4.2.2) and show a stale document, whose next write then failed with 412.
describe("validators come with revalidation", () => {
  it("the upload's 201 carries the document's ETag; every resource with validators says no-cache", async () => {
    const { auth } = await signedIn();
    const res = await rawUpload(auth, "fresh", "text/plain");
    expect(res.status).toBe(201);
    const etag = res.headers.get("etag");
    expect(etag).toMatch(STRONG);
    expect(res.headers.get("last-modified")).toBeTruthy();
    const doc = (await res.json()) as DocumentJson;
    const read = await api(`/documents/${doc.id}`, { headers: auth });
    expect(read.headers.get("etag")).toBe(etag);
    for (const path of [`/documents/${doc.id}`, "/users/me", `/documents/${doc.id}/shares`]) {
      const answer = await api(path, { headers: auth });
      expect(answer.headers.get("cache-control"), path).toBe("private, no-cache");
    }
  });
});
