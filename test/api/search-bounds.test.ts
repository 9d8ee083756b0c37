import { describe, expect, it } from "vitest";
import {
  FACET_SAMPLE,
  HEADLINE_TEXT_CHARS,
  RANK_WINDOW,
  searchMatches,
  TOTAL_COUNT_LIMIT,
  tuneSearch,
} from "../../src/db/queries/search.ts";
import { signedIn } from "../auth-helpers.ts";
import { created, processed, rawUpload } from "../document-helpers.ts";
import { asSystem } from "../helpers.ts";
import { search } from "../search-helpers.ts";

// The work one search may cost is bounded whatever the corpus holds (OWASP API4:2023): the text
// each highlight reads, the matches counted, and the matches the facets count.

type Auth = Record<string, string>;

async function textDocument(auth: Auth, title: string, text: string, tags: string[] = []): Promise<string> {
  const doc = await created(rawUpload(auth, text, "text/plain", { title, tags: tags.join(",") }));
  expect((await processed(auth, doc.id)).status).toBe("ready");
  return doc.id;
}

describe("highlights", async () => {
  const owner = await signedIn();
  const word = `axolotl${crypto.randomUUID().slice(0, 6)}`;
  // The match sits 20,500 characters in: past the bound, well within the stored text.
  const filler = "plain words about nothing in particular. ".repeat(500);
  await textDocument(owner.auth, "Early mention", `${word} appears first. ${filler}`);
  await textDocument(owner.auth, "Late mention", `${filler} only here does ${word} appear.`);

  it("read at most HEADLINE_TEXT_CHARS of each text: a match beyond still finds the document, unmarked", async () => {
    expect(HEADLINE_TEXT_CHARS).toBeLessThan(filler.length);
    const { body } = await search(owner.auth, { q: word, limit: 50 });
    const byTitle = new Map(body.data.map((hit) => [hit.document.title, hit.highlights.content]));
    expect([...byTitle.keys()].sort()).toEqual(["Early mention", "Late mention"]);
    expect(byTitle.get("Early mention")).toContain(`<mark>${word}</mark>`);
    const late = byTitle.get("Late mention");
    expect(late).not.toContain("<mark>");
    expect(late).not.toContain(word);
    expect(late?.startsWith("plain words about nothing")).toBe(true);
  });

  it("cost at most 500,000 characters for a page of 50", () => {
    expect(HEADLINE_TEXT_CHARS * 50).toBeLessThanOrEqual(500_000);
  });
});

describe("totals and facets", async () => {
  const owner = await signedIn();
  const word = `capybara${crypto.randomUUID().slice(0, 6)}`;
  for (const [i, tag] of ["red", "red", "blue", "green", "blue"].entries()) {
    await textDocument(owner.auth, `Note ${i}`, `${word} number ${i}`, [tag]);
  }
  const viewer = { userId: owner.user.id, readsAll: false };
  const facets = (limits: { totalLimit?: number; sample?: number }) =>
    asSystem(async (tx) => {
      await tuneSearch(tx);
      const { facets } = await searchMatches(tx, {
        viewer,
        text: word,
        filters: {},
        sort: "relevance",
        limit: 10,
        tagLimit: 20,
        ...limits,
      });
      return facets;
    });
  const sum = (list: { count: number }[]) => list.reduce((total, entry) => total + entry.count, 0);

  it("are exact while the matches fit, and say so", async () => {
    const exact = await facets({});
    expect(exact).toMatchObject({ total: 5, totalExact: true, approximate: false });
    expect(sum(exact.types)).toBe(5);
    expect(exact.tags).toEqual([
      { value: "blue", count: 2 },
      { value: "red", count: 2 },
      { value: "green", count: 1 },
    ]);
    const { body } = await search(owner.auth, { q: word });
    expect(body).toMatchObject({ total: 5, totalRelation: "eq", facets: { approximate: false } });
  });

  it("count facets over a sample beyond FACET_SAMPLE matches, flagged approximate", async () => {
    const sampled = await facets({ sample: 3 });
    expect(sampled).toMatchObject({ total: 5, totalExact: true, approximate: true });
    expect(sum(sampled.types)).toBe(3);
    expect(sum(sampled.created)).toBe(3);
    expect(sum(sampled.tags)).toBe(3);
  });

  it("stop counting at TOTAL_COUNT_LIMIT: the total is then a lower bound", async () => {
    const capped = await facets({ totalLimit: 4, sample: 2 });
    expect(capped).toMatchObject({ total: 4, totalExact: false, approximate: true });
    expect(sum(capped.types)).toBe(2);
  });

  it("have bounds that keep a broad query's facets cheap, and a total that still tells the ranking window apart", () => {
    expect(FACET_SAMPLE).toBeLessThanOrEqual(2_000);
    expect(TOTAL_COUNT_LIMIT).toBeGreaterThanOrEqual(RANK_WINDOW);
    expect(TOTAL_COUNT_LIMIT).toBeLessThanOrEqual(10_000);
  });
});
