import { describe, expect, it } from "vitest";
import { signedIn } from "../auth-helpers.ts";
import { api, expectProblem } from "../helpers.ts";
import { search, sorted, textDocument, titlesFound } from "../search-helpers.ts";

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
