import { describe, expect, it } from "vitest";
import { signedIn } from "../auth-helpers.ts";
import { created, type DocumentJson, processed, rawUpload } from "../document-helpers.ts";
import { search, textDocument } from "../search-helpers.ts";

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
