import { describe, expect, it } from "vitest";
import { type SearchCursor, searchMatches } from "../../src/db/queries/search.ts";
import { signedIn, signedInAdmin } from "../auth-helpers.ts";
import { created, type DocumentJson, processed, rawUpload } from "../document-helpers.ts";
import { EICAR } from "../fixtures/files.ts";
import { api, asSystem, expectProblem } from "../helpers.ts";
import { allPages, search, suggestions, titlesFound } from "../search-helpers.ts";

type Auth = Record<string, string>;

/** A text document, processed (so its text is indexed). */
async function textDocument(auth: Auth, title: string, text: string, tags: string[] = []): Promise<DocumentJson> {
  const doc = await created(rawUpload(auth, text, "text/plain", { title, tags: tags.join(",") }));
  const done = await processed(auth, doc.id);
  expect(done.status).toBe("ready");
  return done;
}

const sorted = (items: string[]) => [...items].sort();

describe("query syntax", async () => {
  const owner = await signedIn();
  const auth = owner.auth;
  await Promise.all([
    textDocument(auth, "Alpha report", "The quick brown fox jumps over the lazy dog."),
    textDocument(auth, "Beta report", "A brown dog sleeps; nothing quick about it."),
    textDocument(auth, "Gamma notes", "I run along the river every morning."),
    textDocument(auth, "Delta notes", "Runners gathered in the park."),
  ]);

  it("requires every word", async () => {
    expect(sorted(await titlesFound(auth, { q: "brown dog" }))).toEqual(["Alpha report", "Beta report"]);
    expect(await titlesFound(auth, { q: "brown fox" })).toEqual(["Alpha report"]);
  });

  it("matches quoted phrases as phrases", async () => {
    expect(await titlesFound(auth, { q: '"quick brown fox"' })).toEqual(["Alpha report"]);
    expect(await titlesFound(auth, { q: '"brown quick"' })).toEqual([]);
  });

  it("reads OR between alternatives", async () => {
    expect(sorted(await titlesFound(auth, { q: "fox OR sleeps" }))).toEqual(["Alpha report", "Beta report"]);
    expect(sorted(await titlesFound(auth, { q: "fox or river" }))).toEqual(["Alpha report", "Gamma notes"]);
  });

  it('excludes -words and -"phrases"', async () => {
    expect(await titlesFound(auth, { q: "report -fox" })).toEqual(["Beta report"]);
    expect(await titlesFound(auth, { q: 'report -"lazy dog"' })).toEqual(["Beta report"]);
  });

  it('stems English words: "running" finds "run"', async () => {
    expect(await titlesFound(auth, { q: "running" })).toEqual(["Gamma notes"]);
    expect(await titlesFound(auth, { q: "runs" })).toEqual(["Gamma notes"]);
    expect(await titlesFound(auth, { q: "runner" })).toEqual(["Delta notes"]);
  });

  it("is case-insensitive and ignores punctuation and stop words", async () => {
    expect(await titlesFound(auth, { q: "  The QUICK, fox!  " })).toEqual(["Alpha report"]);
  });

  it("browses newest first without a query", async () => {
    const { body } = await search(auth, {});
    expect(body.total).toBe(4);
    // (JSON dates have milliseconds; the order's ties are broken on microseconds, then id.)
    const created = body.data.map((hit) => hit.document.createdAt);
    expect(created).toEqual([...created].sort().reverse());
  });

  it("refuses what is not a query, with a problem", async () => {
    for (const query of [
      `q=${"x".repeat(201)}`,
      "limit=0",
      "limit=51",
      "sort=best",
      "owner=me",
      "createdFrom=yesterday",
      "cursor=nope",
      "tags=%3Cscript%3E",
    ]) {
      const problem = await expectProblem(await api(`/search?${query}`, { headers: auth }), 400);
      expect(problem.type, query).toBe("/problems/validation_failed");
    }
    await expectProblem(await api("/search?q=fox"), 401);
  });
});

describe("ranking and highlights", async () => {
  const owner = await signedIn();
  const auth = owner.auth;
  await textDocument(
    auth,
    "Quarterly figures",
    `Somewhere in this long text the word zebra appears once. ${"Filler words about other things. ".repeat(40)}`,
  );
  await textDocument(auth, "Zebra migration", "Herds cross the river in the dry season.");
  await textDocument(auth, "Field notes", "zebra zebra zebra: three zebras at the water hole.");

  it("ranks a title match above matches in the text", async () => {
    const { body } = await search(auth, { q: "zebra" });
    expect(body.data.map((hit) => hit.document.title)).toEqual(["Zebra migration", "Field notes", "Quarterly figures"]);
    const scores = body.data.map((hit) => hit.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    expect(scores[2]).toBeGreaterThan(0);
  });

  it("ranks a title that is exactly the query first", async () => {
    // By term counts alone the second would win: its words are denser, the first's text is long.
    await textDocument(auth, "Tapir report", "Rainforest mammals browse at dusk. ".repeat(60));
    await textDocument(auth, "Tapir report: tapir report", "tapir report, tapir report, tapir report");
    const { body } = await search(auth, { q: "Tapir Report" });
    expect(body.data.map((hit) => hit.document.title)).toEqual(["Tapir report", "Tapir report: tapir report"]);
  });

  it("sorts by recency on request", async () => {
    const { body } = await search(auth, { q: "zebra", sort: "recent" });
    expect(body.data.map((hit) => hit.document.title)).toEqual(["Field notes", "Zebra migration", "Quarterly figures"]);
    expect(body.data.every((hit) => hit.score === 0)).toBe(true);
  });

  it("highlights matches in the title and a snippet of the text", async () => {
    const { body } = await search(auth, { q: "zebra" });
    const [title, , text] = body.data;
    expect(title?.highlights.title).toBe("<mark>Zebra</mark> migration");
    expect(text?.highlights.title).toBe("Quarterly figures");
    expect(text?.highlights.content).toContain("the word <mark>zebra</mark> appears once");
    expect(text?.highlights.content?.length).toBeLessThan(400);
  });

  it("escapes the document's own markup in highlights", async () => {
    await textDocument(auth, "<img src=x onerror=alert(1)> okapi", 'Okapi & "friends" <b>of</b> the forest');
    const [hit] = (await search(auth, { q: "okapi" })).body.data;
    expect(hit?.highlights.title).toBe("&lt;img src=x onerror=alert(1)&gt; <mark>okapi</mark>");
    // What looks like a tag is text too: shown escaped, not dropped as Postgres's parser would.
    expect(hit?.highlights.content).toBe(
      "<mark>Okapi</mark> &amp; &quot;friends&quot; &lt;b&gt;of&lt;/b&gt; the forest",
    );
  });
});

describe("ranking many matches", async () => {
  const owner = await signedIn();
  // Oldest first; the oldest mentions the word most often. All texts have twenty words.
  const docs: DocumentJson[] = [];
  for (const times of [6, 1, 3, 2]) {
    docs.push(
      await textDocument(owner.auth, `Notes ${times}`, `${"lemur ".repeat(times)}${"savanna ".repeat(20 - times)}`),
    );
  }
  const viewer = { userId: owner.user.id, readsAll: false };
  const page = (rankWindow: number, after?: SearchCursor) =>
    asSystem(async (tx) => {
      const { hits } = await searchMatches(tx, {
        viewer,
        text: "lemur",
        filters: {},
        sort: "relevance",
        limit: 10,
        tagLimit: 20,
        rankWindow,
        after,
      });
      return hits;
    });
  const titles = (hits: { id: string }[]) => hits.map((hit) => docs.find((doc) => doc.id === hit.id)?.title);

  it("ranks every match when they fit in the window", async () => {
    expect(titles(await page(4))).toEqual(["Notes 6", "Notes 3", "Notes 2", "Notes 1"]);
  });

  it("ranks only the newest matches beyond it, and pages through them", async () => {
    const hits = await page(2);
    expect(titles(hits)).toEqual(["Notes 3", "Notes 2"]);
    const first = hits[0];
    if (!first) throw new Error("no hit");
    const rest = await page(2, { sort: "relevance", score: first.scoreText, id: first.id });
    expect(titles(rest)).toEqual(["Notes 2"]);
  });
});

describe("filters and facets", async () => {
  const owner = await signedIn();
  const auth = owner.auth;
  const docs = await Promise.all([
    textDocument(auth, "Budget 2026", "finance plan for the budget year", ["finance", "plan"]),
    textDocument(auth, "Budget review", "the budget was reviewed", ["finance"]),
    textDocument(auth, "Hiring budget", "a budget for hiring", ["hr", "plan"]),
    textDocument(auth, "Office move", "no money talk here", ["facilities"]),
  ]);
  const markdown = await created(
    rawUpload(auth, "# Budget\n\nMarkdown budget notes", "text/markdown", { title: "Budget notes", tags: "finance" }),
  );
  await processed(auth, markdown.id);

  it("counts every match by tag, type and month, and the counts add up", async () => {
    const { body } = await search(auth, { q: "budget" });
    expect(body.total).toBe(4);
    expect(body.facets.tags).toEqual([
      { value: "finance", count: 3 },
      { value: "plan", count: 2 },
      { value: "hr", count: 1 },
    ]);
    expect(body.facets.types).toEqual([
      { value: "text/plain", count: 3 },
      { value: "text/markdown", count: 1 },
    ]);
    const month = new Date().toISOString().slice(0, 7);
    expect(body.facets.created).toEqual([{ value: month, count: 4 }]);
    const sum = (list: { count: number }[]) => list.reduce((total, entry) => total + entry.count, 0);
    expect(sum(body.facets.types)).toBe(body.total);
    expect(sum(body.facets.created)).toBe(body.total);
  });

  it("filters by tags (all of them), type, owner and creation date, and facets follow the filters", async () => {
    const byTags = await search(auth, { q: "budget", tags: "finance,plan" });
    expect(byTags.body.data.map((hit) => hit.document.title)).toEqual(["Budget 2026"]);
    expect(byTags.body.total).toBe(1);
    expect(byTags.body.facets.tags).toEqual([
      { value: "finance", count: 1 },
      { value: "plan", count: 1 },
    ]);

    const byType = await search(auth, { q: "budget", type: "text/markdown" });
    expect(byType.body.data.map((hit) => hit.document.title)).toEqual(["Budget notes"]);
    expect(byType.body.facets.types).toEqual([{ value: "text/markdown", count: 1 }]);

    expect((await search(auth, { q: "budget", owner: owner.user.id })).body.total).toBe(4);
    expect((await search(auth, { q: "budget", owner: crypto.randomUUID() })).body.total).toBe(0);

    const first = docs[0] as DocumentJson;
    const after = new Date(new Date(first.createdAt).getTime() + 1).toISOString();
    const from = await search(auth, { q: "budget", createdFrom: first.createdAt });
    const to = await search(auth, { q: "budget", createdTo: first.createdAt });
    expect(from.body.total + to.body.total).toBe(4);
    expect(from.body.data.map((hit) => hit.document.id)).toContain(first.id);
    expect((await search(auth, { q: "budget", createdFrom: after, createdTo: after })).body.total).toBe(0);
  });

  it("browses with filters and no query", async () => {
    const { body } = await search(auth, { tags: "facilities" });
    expect(body.data.map((hit) => hit.document.title)).toEqual(["Office move"]);
    expect(body.total).toBe(1);
  });
});

describe("pagination", async () => {
  const owner = await signedIn();
  const auth = owner.auth;
  // Scores differ (how often the word occurs) and tie (equal texts), so both orders are exercised.
  const originals = await Promise.all(
    Array.from({ length: 14 }, (_, i) =>
      textDocument(auth, `Page ${i}`, `${"walrus ".repeat(1 + (i % 4))} and ${"other words ".repeat(i)}`),
    ),
  );
  const ids = originals.map((doc) => doc.id);

  for (const sort of ["relevance", "recent"] as const) {
    it(`walks every match exactly once by ${sort}, while documents are added`, async () => {
      const added: string[] = [];
      const hits = await allPages(auth, { q: "walrus", sort, limit: 3 }, async () => {
        // New matches arrive between pages (titles are indexed as they are written).
        const doc = await created(
          rawUpload(auth, "no match in the text", "text/plain", { title: `walrus newcomer ${added.length}` }),
        );
        added.push(doc.id);
      });
      const seen = hits.map((hit) => hit.document.id);
      expect(new Set(seen).size).toBe(seen.length);
      for (const id of ids) expect(seen).toContain(id);
      if (sort === "relevance") {
        const scores = hits.map((hit) => hit.score);
        expect(scores).toEqual([...scores].sort((a, b) => b - a));
      } else {
        // Newest first: nothing created after the walk began can appear behind the first page.
        expect(seen.filter((id) => added.includes(id))).toEqual([]);
      }
      for (const id of added) await processed(auth, id);
    });
  }

  it("refuses a cursor of another sort", async () => {
    const { body } = await search(auth, { q: "walrus", limit: 2 });
    expect(body.nextCursor).not.toBeNull();
    const res = await api(`/search?q=walrus&sort=recent&cursor=${body.nextCursor}`, { headers: auth });
    await expectProblem(res, 400);
  });

  it("refuses a forged cursor whose values Postgres could not read", async () => {
    const id = crypto.randomUUID();
    const forged = [
      { q: "walrus", sort: "relevance", cursor: { s: "relevance", v: "1e999", i: id } },
      { q: "walrus", sort: "relevance", cursor: { s: "relevance", v: "-1e39", i: id } },
      { q: "walrus", sort: "recent", cursor: { s: "recent", c: "2026-02-30 10:00:00+00", i: id } },
      { q: "walrus", sort: "recent", cursor: { s: "recent", c: "2026-01-01 25:61:00+00", i: id } },
    ];
    for (const { cursor, ...params } of forged) {
      const encoded = btoa(JSON.stringify(cursor)).replace(/=+$/, "").replaceAll("+", "-").replaceAll("/", "_");
      const query = new URLSearchParams({ ...params, cursor: encoded });
      const problem = await expectProblem(await api(`/search?${query}`, { headers: auth }), 400);
      expect(problem.errors?.[0]?.pointer, JSON.stringify(cursor)).toBe("/cursor");
    }
  });
});

describe("access control", async () => {
  const alice = await signedIn();
  const bob = await signedIn();
  const admin = await signedInAdmin();
  const secret = await textDocument(alice.auth, "Narwhal secret plan", "only alice may read about the narwhal", [
    "narwhal-private",
  ]);
  const shared = await textDocument(alice.auth, "Narwhal shared notes", "bob may read these narwhal notes", [
    "narwhal-shared",
  ]);
  const own = await textDocument(bob.auth, "Narwhal sightings", "bob's own narwhal list");

  it("finds, counts and facets only what the caller may read", async () => {
    const before = await search(bob.auth, { q: "narwhal" });
    expect(before.body.data.map((hit) => hit.document.id)).toEqual([own.id]);
    expect(before.body.total).toBe(1);
    expect(before.body.facets.tags).toEqual([]);

    const share = await api(`/documents/${shared.id}/shares`, {
      method: "PUT",
      headers: { ...alice.auth, "content-type": "application/json" },
      body: JSON.stringify({ user: bob.user.username, access: "read" }),
    });
    expect(share.status).toBe(200);

    const after = await search(bob.auth, { q: "narwhal" });
    expect(sorted(after.body.data.map((hit) => hit.document.id))).toEqual(sorted([own.id, shared.id]));
    expect(after.body.total).toBe(2);
    expect(after.body.facets.tags).toEqual([{ value: "narwhal-shared", count: 1 }]);
    expect((await search(bob.auth, { q: "secret" })).body.total).toBe(0);
    expect((await search(bob.auth, { tags: "narwhal-private" })).body.total).toBe(0);
    expect(
      (await search(bob.auth, { q: "narwhal", owner: alice.user.id })).body.data.map((hit) => hit.document.id),
    ).toEqual([shared.id]);

    const all = await search(admin.auth, { q: "narwhal", owner: alice.user.id });
    expect(sorted(all.body.data.map((hit) => hit.document.id))).toEqual(sorted([secret.id, shared.id]));
  });

  it("suggests only titles and tags of readable documents", async () => {
    const forBob = await suggestions(bob.auth, "narwh", 20);
    const texts = forBob.map((s) => s.text);
    expect(texts).not.toContain("Narwhal secret plan");
    expect(texts).not.toContain("narwhal-private");
    expect(texts).toContain("Narwhal sightings");
    const forAlice = (await suggestions(alice.auth, "narwh", 20)).map((s) => s.text);
    expect(forAlice).toEqual(expect.arrayContaining(["Narwhal secret plan", "narwhal-private"]));
  });

  it("never offers another user's words as 'did you mean'", async () => {
    await textDocument(alice.auth, "Kaleidoscope", "a kaleidoscopic afternoon");
    const stranger = await search(bob.auth, { q: "kaleidoscopik" });
    expect(stranger.body.total).toBe(0);
    expect(stranger.body.didYouMean).toBeNull();
    const ownerView = await search(alice.auth, { q: "kaleidoscopik" });
    expect(ownerView.body.didYouMean).toEqual({ query: "kaleidoscopic", total: 1 });
  });

  it("drops deleted documents at once", async () => {
    const doomed = await textDocument(bob.auth, "Narwhal to delete", "gone soon");
    expect((await search(bob.auth, { q: "delete" })).body.total).toBe(1);
    expect((await api(`/documents/${doomed.id}`, { method: "DELETE", headers: bob.auth })).status).toBe(204);
    expect((await search(bob.auth, { q: "delete" })).body.total).toBe(0);
  });

  it("never shows a quarantined document, not even to its owner", async () => {
    const infected = await created(rawUpload(bob.auth, EICAR, "text/plain", { title: "Narwhal infected" }));
    expect((await processed(bob.auth, infected.id)).status).toBe("quarantined");
    const found = await search(bob.auth, { q: "infected" });
    expect(found.body.total).toBe(0);
    expect(found.body.data).toEqual([]);
    expect((await suggestions(bob.auth, "narwhal inf")).map((s) => s.text)).not.toContain("Narwhal infected");
  });
});

describe("did you mean", async () => {
  const owner = await signedIn();
  const auth = owner.auth;
  await textDocument(auth, "Elephant census", "The elephant population of the reserve grew.");

  it("corrects a misspelt word when nothing matched", async () => {
    const { body } = await search(auth, { q: "elefant census" });
    expect(body.total).toBe(0);
    expect(body.didYouMean).toEqual({ query: "elephant census", total: 1 });
  });

  it("keeps the query's syntax around the correction", async () => {
    const { body } = await search(auth, { q: 'populaton -"dry season"' });
    expect(body.didYouMean).toEqual({ query: 'population -"dry season"', total: 1 });
  });

  it("offers nothing when there is nothing close, or when results exist", async () => {
    expect((await search(auth, { q: "xylophonequartz" })).body.didYouMean).toBeNull();
    expect((await search(auth, { q: "elephant" })).body.didYouMean).toBeNull();
  });
});

describe("autocomplete", async () => {
  const owner = await signedIn();
  const auth = owner.auth;
  await textDocument(auth, "Quarterly revenue report", "numbers", ["quarterly-close"]);
  await textDocument(auth, "Annual quarterly summary", "more numbers");

  it("completes prefixes of titles (start first) and tags", async () => {
    const found = await suggestions(auth, "quar");
    expect(found.slice(0, 1)).toEqual([expect.objectContaining({ text: "Quarterly revenue report", kind: "title" })]);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ text: "Annual quarterly summary", kind: "title" }),
        { text: "quarterly-close", kind: "tag", documentId: null },
      ]),
    );
    const title = found.find((s) => s.kind === "title");
    expect(title?.documentId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("tolerates typos", async () => {
    const found = await suggestions(auth, "quartrly revnue");
    expect(found.map((s) => s.text)).toContain("Quarterly revenue report");
  });

  // Popular queries (who counts towards one, suppression): test/api/search-popular.test.ts.

  it("refuses an empty prefix", async () => {
    await expectProblem(await api("/search/suggest?q=%20", { headers: auth }), 400);
  });
});
