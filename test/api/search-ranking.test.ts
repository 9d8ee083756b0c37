import { describe, expect, it } from "vitest";
import { type SearchCursor, searchMatches } from "../../src/db/queries/search.ts";
import { signedIn } from "../auth-helpers.ts";
import type { DocumentJson } from "../document-helpers.ts";
import { asSystem } from "../helpers.ts";
import { search, textDocument } from "../search-helpers.ts";

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
