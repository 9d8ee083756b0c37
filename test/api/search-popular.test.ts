import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { searchQueries } from "../../src/db/schema/search.ts";
import { users } from "../../src/db/schema/users.ts";
import { POPULAR_QUERY_MIN_ACCOUNT_AGE_DAYS } from "../../src/search/search-service.ts";
import { promote, signedIn, signedInAdmin } from "../auth-helpers.ts";
import { created, processed, rawUpload } from "../document-helpers.ts";
import { api, asSystem, eventually, expectProblem } from "../helpers.ts";
import { search, suggestions } from "../search-helpers.ts";

// Autocomplete offers other people's queries: a query counts only for users whose accounts look
// like real ones (verified email, old enough when they searched) and who opened a result of it,
// and administrators can keep a phrase out of it (OWASP API6:2023).

type Searcher = Awaited<ReturnType<typeof signedIn>>;
type Auth = Record<string, string>;

const DAY = 86_400_000;

/** Makes the account look established: email verified and created `days` days ago. */
async function establish(searcher: Searcher, changes: { verified?: boolean; days?: number } = {}): Promise<void> {
  const days = changes.days ?? POPULAR_QUERY_MIN_ACCOUNT_AGE_DAYS + 1;
  await asSystem((tx) =>
    tx
      .update(users)
      .set({ emailVerified: changes.verified ?? true, createdAt: new Date(Date.now() - days * DAY) })
      .where(eq(users.id, searcher.user.id)),
  );
}

/** A processed text document of the searcher's own that `phrase` finds. */
async function ownDocument(auth: Auth, phrase: string): Promise<string> {
  const doc = await created(rawUpload(auth, "field notes", "text/plain", { title: `${phrase} habitat` }));
  expect((await processed(auth, doc.id)).status).toBe("ready");
  return doc.id;
}

/** Searches `phrase` (waiting until the search is recorded) and, unless told not to, opens the first result. */
async function searchAndOpen(searcher: Searcher, phrase: string, open = true): Promise<void> {
  const { body } = await search(searcher.auth, { q: phrase });
  expect(body.total).toBeGreaterThan(0);
  await eventually(async () => {
    const rows = await asSystem((tx) => tx.select().from(searchQueries).where(eq(searchQueries.id, body.queryId)));
    return rows[0];
  });
  const first = body.data[0];
  if (!open || !first) return;
  const res = await api("/search/clicks", {
    method: "POST",
    headers: { ...searcher.auth, "content-type": "application/json" },
    body: JSON.stringify({ queryId: body.queryId, documentId: first.document.id, position: 1 }),
  });
  expect(res.status).toBe(204);
}

async function suggestedQueries(auth: Auth, prefix: string): Promise<string[]> {
  return (await suggestions(auth, prefix, 20)).filter((s) => s.kind === "query").map((s) => s.text);
}

const uniquePhrase = (word: string) => `${word} ${crypto.randomUUID().slice(0, 6)}`;

describe("popular queries in autocomplete", () => {
  it("are not made by three throwaway accounts, even when they open results", async () => {
    const phrase = uniquePhrase("wombat");
    const throwaways = [await signedIn(), await signedIn(), await signedIn()];
    for (const account of throwaways) {
      await ownDocument(account.auth, phrase);
      await searchAndOpen(account, phrase);
    }
    const someone = await signedIn();
    expect(await suggestedQueries(someone.auth, phrase.slice(0, 9))).toEqual([]);
  });

  it("count only verified accounts old enough when they searched, whose search led to an opened result", async () => {
    const phrase = uniquePhrase("quokka");
    const [a, b, unverified, young, noClick, c] = [
      await signedIn(),
      await signedIn(),
      await signedIn(),
      await signedIn(),
      await signedIn(),
      await signedIn(),
    ];
    if (!a || !b || !unverified || !young || !noClick || !c) throw new Error("six searchers");
    await establish(a);
    await establish(b);
    await establish(unverified, { verified: false });
    await establish(young, { days: POPULAR_QUERY_MIN_ACCOUNT_AGE_DAYS - 1 });
    await establish(noClick);
    await establish(c);
    for (const searcher of [a, b, unverified, young, noClick, c]) await ownDocument(searcher.auth, phrase);
    const someone = await signedIn();

    await searchAndOpen(a, phrase);
    await searchAndOpen(b, phrase);
    await searchAndOpen(unverified, phrase);
    await searchAndOpen(young, phrase);
    await searchAndOpen(noClick, phrase, false);
    // Five people searched it, but only two count.
    expect(await suggestedQueries(someone.auth, phrase.slice(0, 9))).toEqual([]);

    await searchAndOpen(c, phrase);
    expect(await suggestedQueries(someone.auth, phrase.slice(0, 9))).toEqual([phrase]);
  });

  it("leave out any query containing a phrase an administrator suppressed, until it is lifted", async () => {
    const phrase = uniquePhrase("numbat");
    const searchers = [await signedIn(), await signedIn(), await signedIn()];
    for (const searcher of searchers) {
      await establish(searcher);
      await ownDocument(searcher.auth, phrase);
      await searchAndOpen(searcher, phrase);
    }
    const someone = await signedIn();
    expect(await suggestedQueries(someone.auth, "numbat")).toContain(phrase);

    const admin = await signedInAdmin();
    const suppressed = await api("/analytics/search/suppressed-queries", {
      method: "POST",
      headers: { ...admin.auth, "content-type": "application/json" },
      // Any part of it, in any case and spacing.
      body: JSON.stringify({ phrase: `  ${phrase.split(" ")[1]?.toUpperCase()} `, reason: "spam" }),
    });
    expect(suppressed.status).toBe(201);
    const entry = (await suppressed.json()) as { id: string };
    expect(await suggestedQueries(someone.auth, "numbat")).not.toContain(phrase);

    expect(
      (await api(`/analytics/search/suppressed-queries/${entry.id}`, { method: "DELETE", headers: admin.auth })).status,
    ).toBe(204);
    expect(await suggestedQueries(someone.auth, "numbat")).toContain(phrase);
  });
});

describe("suppressed queries (admin endpoint)", () => {
  const path = "/analytics/search/suppressed-queries";
  const post = (auth: Auth, body: unknown) =>
    api(path, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify(body) });

  it("are listed, added (once) and lifted by administrators", async () => {
    const admin = await signedInAdmin();
    const phrase = `Cheap  ${crypto.randomUUID().slice(0, 8).toUpperCase()} pills`;
    const first = await post(admin.auth, { phrase, reason: "spam campaign" });
    expect(first.status).toBe(201);
    const entry = (await first.json()) as { id: string; phrase: string; reason: string; suppressedBy: string };
    expect(entry).toMatchObject({ phrase: phrase.replace(/\s+/g, " ").toLowerCase(), reason: "spam campaign" });
    expect(entry.suppressedBy).toBe(admin.user.id);

    const again = await post(admin.auth, { phrase: phrase.toLowerCase() });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { id: string }).id).toBe(entry.id);

    const list = await api(path, { headers: admin.auth });
    expect(list.status).toBe(200);
    expect(((await list.json()) as { data: { id: string }[] }).data.map((row) => row.id)).toContain(entry.id);

    expect((await api(`${path}/${entry.id}`, { method: "DELETE", headers: admin.auth })).status).toBe(204);
    await expectProblem(await api(`${path}/${entry.id}`, { method: "DELETE", headers: admin.auth }), 404);
  });

  it("refuse other users, analysts included, and anonymous callers", async () => {
    const admin = await signedInAdmin();
    const kept = (await (await post(admin.auth, { phrase: uniquePhrase("kept") })).json()) as { id: string };
    const analyst = await signedIn();
    await promote(analyst.user.id, { permissions: ["analytics:read"] });
    for (const caller of [await signedIn(), analyst]) {
      await expectProblem(await api(path, { headers: caller.auth }), 403);
      await expectProblem(await post(caller.auth, { phrase: "anything" }), 403);
      await expectProblem(await api(`${path}/${kept.id}`, { method: "DELETE", headers: caller.auth }), 403);
    }
    await expectProblem(await api(path), 401);
    await expectProblem(await post({}, { phrase: "anything" }), 401);
    await expectProblem(await api(`${path}/${kept.id}`, { method: "DELETE" }), 401);
    // Still there.
    const list = (await (await api(path, { headers: admin.auth })).json()) as { data: { id: string }[] };
    expect(list.data.map((row) => row.id)).toContain(kept.id);
  });

  it("refuse a blank phrase, unknown fields and an id that is not one", async () => {
    const admin = await signedInAdmin();
    const blank = await expectProblem(await post(admin.auth, { phrase: "   " }), 400);
    expect(blank.errors?.map((e) => e.pointer)).toEqual(["/phrase"]);
    await expectProblem(await post(admin.auth, { phrase: "x", extra: true }), 400);
    await expectProblem(await post(admin.auth, { phrase: "x".repeat(201) }), 400);
    await expectProblem(await api(`${path}/not-an-id`, { method: "DELETE", headers: admin.auth }), 400);
  });
});
