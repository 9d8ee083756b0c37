import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { signedIn, signedInAdmin, tokenRequest, uniqueName } from "../auth-helpers.ts";
import { created, rawUpload } from "../document-helpers.ts";
import { api, asSystem, expectProblem } from "../helpers.ts";

// Values that are valid JSON, percent-encoding or multipart but that no Postgres value can hold:
// U+0000 in text (PostgreSQL §8.3), unpaired UTF-16 surrogates (not encodable as UTF-8), instants
// outside what timestamptz reads, integers above int4. Each is a 400 naming the field, never a 500.

type Auth = Record<string, string>;

const NUL = "\u0000";
const LONE_SURROGATE = "\ud800";
const INT4_ABOVE = "2147483648";
const UUID = "00000000-0000-4000-8000-000000000000";

const json = (auth: Auth, method: string, body: unknown): RequestInit => ({
  method,
  headers: { ...auth, "content-type": "application/json" },
  body: JSON.stringify(body),
});

/** A 400 problem naming `pointer` in `where`. */
async function refused(res: Response, where: string, pointer: string): Promise<void> {
  const problem = await expectProblem(res, 400);
  expect(problem.type).toBe("/problems/validation_failed");
  expect(problem.errors?.map((e) => `${e.in} ${e.pointer}`)).toContain(`${where} ${pointer}`);
}

/** A keyset cursor as /documents, /users and /notifications issue them, here naming an impossible instant. */
const keysetCursor = (createdAt: string) => btoa(`${createdAt}|${UUID}`).replace(/=+$/, "");

/** A search cursor of either order. */
const searchCursor = (body: Record<string, string>) =>
  btoa(JSON.stringify(body)).replace(/=+$/, "").replaceAll("+", "-").replaceAll("/", "_");

/** Instants a cursor may spell in Postgres's own format but which Postgres refuses to read. */
const IMPOSSIBLE_INSTANTS = [
  "2026-02-30 00:00:00+00", // no such day
  "2026-01-01 24:30:00+00", // no such hour
  "2026-01-01 00:00:00+16", // offset beyond ±15:59
  "0000-01-01 00:00:00+00", // there is no year 0
];

/** Instants zod's ISO check accepts but Postgres does not. */
const IMPOSSIBLE_ISO = "0000-06-01T00:00:00Z";

async function documentOf(auth: Auth): Promise<string> {
  return (await created(rawUpload(auth, "plain text", "text/plain", { title: uniqueName("doc") }))).id;
}

function multipart(parts: string[]): { body: string; type: string } {
  const boundary = `b${crypto.randomUUID()}`;
  const body = `${parts.map((part) => `--${boundary}\r\n${part}\r\n`).join("")}--${boundary}--\r\n`;
  return { body, type: `multipart/form-data; boundary=${boundary}` };
}

const filePart = (disposition: string) =>
  `Content-Disposition: form-data; name="file"; ${disposition}\r\nContent-Type: text/plain\r\n\r\nsome text`;

describe("NUL and unpaired surrogates are refused where they would reach Postgres", () => {
  it("search: query parameters of /search and /search/suggest", async () => {
    const { auth } = await signedIn();
    await refused(await api("/search?q=%00", { headers: auth }), "query", "/q");
    await refused(await api("/search?q=a%00b&sort=recent", { headers: auth }), "query", "/q");
    await refused(await api("/search?type=text%2Fplain%00", { headers: auth }), "query", "/type");
    await refused(await api("/search/suggest?q=ab%00", { headers: auth }), "query", "/q");
  });

  it("documents: list filters, JSON fields, upload query, form fields and filenames", async () => {
    const { auth } = await signedIn();
    const id = await documentOf(auth);
    await refused(await api("/documents?tag=a%00", { headers: auth }), "query", "/tag");
    await refused(await api("/documents?type=text%2Fplain%00", { headers: auth }), "query", "/type");
    await refused(await api(`/documents/${id}`, json(auth, "PATCH", { title: `a${NUL}b` })), "body", "/title");
    await refused(
      await api(`/documents/${id}`, json(auth, "PATCH", { title: `a${LONE_SURROGATE}b` })),
      "body",
      "/title",
    );
    await refused(
      await api(`/documents/${id}/shares`, json(auth, "PUT", { user: `x${NUL}`, access: "read" })),
      "body",
      "/user",
    );

    await refused(await rawUpload(auth, "text", "text/plain", { title: `t${NUL}` }), "query", "/title");
    await refused(
      await rawUpload(auth, "text", "text/plain", {
        headers: { "content-disposition": "attachment; filename*=UTF-8''a%00b.txt" },
      }),
      "header",
      "/content-disposition",
    );

    const title = multipart([
      `Content-Disposition: form-data; name="title"\r\n\r\nt${NUL}`,
      filePart('filename="a.txt"'),
    ]);
    await refused(
      await api("/documents", { method: "POST", headers: { ...auth, "content-type": title.type }, body: title.body }),
      "body",
      "/title",
    );
    const plain = multipart([filePart(`filename="a${NUL}.txt"`)]);
    await refused(
      await api("/documents", { method: "POST", headers: { ...auth, "content-type": plain.type }, body: plain.body }),
      "body",
      "/file",
    );
    const extended = multipart([filePart("filename*=UTF-8''a%00.txt")]);
    await refused(
      await api(`/documents/${id}/versions`, {
        method: "POST",
        headers: { ...auth, "content-type": extended.type },
        body: extended.body,
      }),
      "body",
      "/file",
    );
  });

  it("users: registration, profile, preferences and the admin search", async () => {
    const { auth } = await signedIn();
    const name = uniqueName();
    await refused(
      await api(
        "/users",
        json({}, "POST", {
          email: `${name}@example.com`,
          username: name,
          password: "correct horse battery staple",
          displayName: `Ada${NUL}`,
        }),
      ),
      "body",
      "/displayName",
    );
    await refused(await api("/users/me", json(auth, "PATCH", { bio: `hi${NUL}` })), "body", "/bio");
    await refused(await api("/users/me", json(auth, "PATCH", { bio: LONE_SURROGATE })), "body", "/bio");
    await refused(
      await api("/users/me", json(auth, "PATCH", { avatarUrl: "https://example.com/a%00\u0000.png" })),
      "body",
      "/avatarUrl",
    );
    await refused(
      await api("/users/me", json(auth, "PATCH", { preferences: { theme: `dark${NUL}` } })),
      "body",
      "/preferences/theme",
    );
    await refused(
      await api("/users/me", json(auth, "PATCH", { preferences: { nested: { list: ["ok", LONE_SURROGATE] } } })),
      "body",
      "/preferences/nested/list/1",
    );
    await refused(
      await api("/users/me", json(auth, "PATCH", { preferences: { [`k${NUL}`]: 1 } })),
      "body",
      "/preferences",
    );
    // A number JSON.parse reads as Infinity would be stored as null; nesting deep enough to
    // exhaust a recursive walk (5,000 arrays, 10 KB) is refused before it is walked.
    const raw = (body: string): RequestInit => ({
      method: "PATCH",
      headers: { ...auth, "content-type": "application/json" },
      body,
    });
    await refused(await api("/users/me", raw('{"preferences":{"n":1e400}}')), "body", "/preferences/n");
    await refused(
      await api("/users/me", raw(`{"preferences":{"x":${"[".repeat(5000)}1${"]".repeat(5000)}}}`)),
      "body",
      `/preferences/x${"/0".repeat(31)}`,
    );

    const admin = await signedInAdmin();
    await refused(await api("/users?search=ad%00", { headers: admin.auth }), "query", "/search");
  });

  it("notifications: a webhook URL", async () => {
    const { auth } = await signedIn();
    await refused(
      await api("/webhooks", json(auth, "POST", { url: `https://example.com/hook${NUL}` })),
      "body",
      "/url",
    );
    await refused(
      await api("/webhooks", json(auth, "POST", { url: `https://example.com/${LONE_SURROGATE}` })),
      "body",
      "/url",
    );
  });

  it("paths: ids, versions and names with a NUL", async () => {
    const { auth } = await signedIn();
    const admin = await signedInAdmin();
    await refused(await api(`/documents/${UUID.slice(0, -1)}%00`, { headers: auth }), "path", "/id");
    await refused(
      await api(`/documents/${UUID}/versions/1%00/restore`, { method: "POST", headers: auth }),
      "path",
      "/version",
    );
    await refused(await api(`/notifications/%00/read`, { method: "POST", headers: auth }), "path", "/id");
    await refused(await api(`/users/%00`, { headers: admin.auth }), "path", "/id");
    await refused(
      await api(`/users/${UUID}/permissions/users:read%00`, { method: "PUT", headers: admin.auth }),
      "path",
      "/permission",
    );
  });

  it("auth: the login name of the token endpoint", async () => {
    const res = await tokenRequest({ grant_type: "password", username: `ada${NUL}`, password: "whatever it is" });
    // The token endpoint speaks OAuth (RFC 6749 §5.2) as well as problem details.
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error?: string; errors?: { in: string; pointer: string }[] };
    expect(body.error).toBe("invalid_request");
    expect(body.errors?.map((e) => `${e.in} ${e.pointer}`)).toContain("body /username");
  });
});

describe("cursors naming an instant Postgres cannot read are refused", () => {
  it.each(IMPOSSIBLE_INSTANTS)("keyset lists: documents, users, notifications (%s)", async (instant) => {
    const { auth } = await signedIn();
    const admin = await signedInAdmin();
    const cursor = keysetCursor(instant);
    await refused(await api(`/documents?cursor=${cursor}`, { headers: auth }), "query", "/cursor");
    await refused(await api(`/notifications?cursor=${cursor}`, { headers: auth }), "query", "/cursor");
    await refused(await api(`/users?cursor=${cursor}`, { headers: admin.auth }), "query", "/cursor");
  });

  it.each(IMPOSSIBLE_INSTANTS)("search sorted by date, with and without a query (%s)", async (instant) => {
    const { auth } = await signedIn();
    const cursor = searchCursor({ s: "recent", c: instant, i: UUID });
    await refused(await api(`/search?cursor=${cursor}`, { headers: auth }), "query", "/cursor");
    await refused(await api(`/search?q=report&sort=recent&cursor=${cursor}`, { headers: auth }), "query", "/cursor");
  });

  it("search by relevance: a score that is not a real", async () => {
    const { auth } = await signedIn();
    for (const score of ["1e39", "NaN", "1e-50000"]) {
      const cursor = searchCursor({ s: "relevance", v: score, i: UUID });
      await refused(await api(`/search?q=report&cursor=${cursor}`, { headers: auth }), "query", "/cursor");
    }
  });
});

describe("dates and integers outside what Postgres holds are refused", () => {
  it("date filters of documents, search and analytics", async () => {
    const { auth } = await signedIn();
    const admin = await signedInAdmin();
    await refused(await api(`/documents?createdFrom=${IMPOSSIBLE_ISO}`, { headers: auth }), "query", "/createdFrom");
    await refused(await api(`/documents?createdTo=${IMPOSSIBLE_ISO}`, { headers: auth }), "query", "/createdTo");
    await refused(await api(`/search?createdFrom=${IMPOSSIBLE_ISO}`, { headers: auth }), "query", "/createdFrom");
    await refused(await api(`/search?q=x&createdTo=${IMPOSSIBLE_ISO}`, { headers: auth }), "query", "/createdTo");
    for (const report of [
      "search/top-queries",
      "search/zero-results",
      "search/latency",
      "search/click-through",
      "metrics",
    ]) {
      await refused(
        await api(`/analytics/${report}?from=${IMPOSSIBLE_ISO}&to=0000-06-02T00:00:00Z`, { headers: admin.auth }),
        "query",
        "/from",
      );
    }
  });

  it("an analytics range whose default start falls before the year 1", async () => {
    const admin = await signedInAdmin();
    await refused(
      await api("/analytics/search/latency?to=0001-01-03T00:00:00Z", { headers: admin.auth }),
      "query",
      "/to",
    );
  });

  it("version numbers above int4 in paths and queries", async () => {
    const { auth } = await signedIn();
    const id = await documentOf(auth);
    await refused(await api(`/documents/${id}/content?version=${INT4_ABOVE}`, { headers: auth }), "query", "/version");
    await refused(
      await api(`/documents/${id}/thumbnail?version=${INT4_ABOVE}`, { headers: auth }),
      "query",
      "/version",
    );
    await refused(
      await api(`/documents/${id}/versions/${INT4_ABOVE}/restore`, { method: "POST", headers: auth }),
      "path",
      "/version",
    );
  });

  it("page sizes of every list, however large", async () => {
    const { auth } = await signedIn();
    const admin = await signedInAdmin();
    for (const path of ["/documents", "/notifications", "/search", "/search/suggest?q=ab&"]) {
      const sep = path.endsWith("&") ? "" : "?";
      await refused(await api(`${path}${sep}limit=1e20`, { headers: auth }), "query", "/limit");
    }
    await refused(await api("/users?limit=1e20", { headers: admin.auth }), "query", "/limit");
    await refused(await api("/analytics/search/top-queries?limit=1e20", { headers: admin.auth }), "query", "/limit");
  });

  it("a whole number beyond 2^53 is refused once, naming the parameter's own bound", async () => {
    const { auth } = await signedIn();
    const problem = await expectProblem(await api("/documents?limit=99999999999999999999", { headers: auth }), 400);
    expect(problem.errors?.map((e) => `${e.in} ${e.pointer}`)).toEqual(["query /limit"]);
    expect(problem.detail).toContain("100");
    expect(problem.detail).not.toContain("9007199254740991");
  });
});

// The stack's Postgres is initialised UTF-8 with C.UTF-8 rules whatever the machine's locale: a
// shell without LANG gave a SQL_ASCII cluster, where a search over a title like "中 Ж" was refused.
describe("the database's text", () => {
  it("is UTF-8, and case rules cover more than ASCII (as on Neon)", async () => {
    const { rows } = await asSystem((tx) =>
      tx.execute(sql`select current_setting('server_encoding') as encoding, lower('ÀÉ Ж') as lowered`),
    );
    expect(rows).toEqual([{ encoding: "UTF8", lowered: "àé ж" }]);
  });

  it("serves a search over titles beyond ASCII", async () => {
    const { auth } = await signedIn();
    const doc = await created(rawUpload(auth, "hello world", "text/plain"));
    const patched = await api(`/documents/${doc.id}`, {
      method: "PATCH",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ title: "中 Ж ß ı" }),
    });
    expect(patched.status).toBe(200);
    const res = await api("/search", { headers: auth });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: { document: { title: string } }[] };
    expect(body.data.map((hit) => hit.document.title)).toEqual(["中 Ж ß ı"]);
  });
});
