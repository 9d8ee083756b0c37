import { describe, expect, it } from "vitest";
import { corpusDocuments } from "../../scripts/corpus/generate.ts";
import { loadThroughApi } from "../../scripts/corpus/through-api.ts";
import { login } from "../auth-helpers.ts";
import { processed } from "../document-helpers.ts";
import { api } from "../helpers.ts";
import { inboxUrl } from "../mail-helpers.ts";
import { search } from "../search-helpers.ts";

const PASSWORD = "corpus password for tests";

describe("loading the corpus through the API", () => {
  it("uploads, shares and gets every document processed and searchable, as its users", async () => {
    const seed = 1 + Math.floor(Math.random() * 1_000_000_000);
    // Enough documents that one is shared (the generator shares about one in twelve).
    let count = 12;
    while (![...corpusDocuments({ seed, count, users: 3 })].some((d) => d.shares.length > 0)) count += 4;
    const corpus = [...corpusDocuments({ seed, count, users: 3 })];

    const result = await loadThroughApi({
      seed,
      count,
      users: 3,
      password: PASSWORD,
      concurrency: 3,
      fetch: api,
      inboxUrl: inboxUrl(),
    });
    expect(result.documentIds).toHaveLength(count);
    expect(result.users.map((u) => u.username)).toEqual([0, 1, 2].map((i) => `corpus-${seed}-${i}`));

    const auths = await Promise.all(
      result.users.map(async (u) => ({ authorization: `Bearer ${(await login(u.username, PASSWORD)).access_token}` })),
    );
    for (const [i, doc] of corpus.entries()) {
      const owner = auths[doc.ownerIndex] as Record<string, string>;
      const stored = await processed(owner, result.documentIds[i] as string);
      expect(stored).toMatchObject({ title: doc.title, tags: doc.tags, contentType: doc.contentType, status: "ready" });
    }

    // A shared document is found by the user it was shared with, by a word of its title.
    const shared = corpus.find((d) => d.shares.length > 0);
    if (!shared) throw new Error("no shared document");
    const reader = auths[shared.shares[0]?.userIndex ?? 0] as Record<string, string>;
    const found = await search(reader, { q: `"${shared.title}"`, limit: 50 });
    expect(found.body.data.map((hit) => hit.document.id)).toContain(result.documentIds[shared.index]);
  });
});
