import { describe, expect, it } from "vitest";
import { signedIn } from "../auth-helpers.ts";
import { created, processed, rawUpload } from "../document-helpers.ts";
import { api, expectProblem } from "../helpers.ts";
import { allPages, search, textDocument } from "../search-helpers.ts";

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
