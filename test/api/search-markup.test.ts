import { Redis } from "@upstash/redis/cloudflare";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { HIGHLIGHT_START, HIGHLIGHT_STOP } from "../../src/db/queries/search.ts";
import { documentContent, documents } from "../../src/db/schema/documents.ts";
import { signedIn } from "../auth-helpers.ts";
import { created, processed, rawUpload } from "../document-helpers.ts";
import { asSystem, testEnv } from "../helpers.ts";
import { cachedSearch, search } from "../search-helpers.ts";

// Highlights are HTML that clients insert as is: only the search may mark a match, and nothing a
// document's title or text holds (the marker characters, other control characters, tags, character
// references) may become markup or unbalance the <mark> elements.

const S = HIGHLIGHT_START;
const E = HIGHLIGHT_STOP;

/** The only markup a highlight may hold: <mark> elements, each closed, never nested. */
function expectBalancedMarks(html: string | null | undefined): void {
  expect(html).toBeTypeOf("string");
  const text = html ?? "";
  expect(text.replace(/<mark>[^<>]*<\/mark>/g, "")).not.toMatch(/[<>\p{Cc}]/u);
  expect(text).not.toMatch(/&(?!(amp|lt|gt|quot);)/);
}

describe("highlights of hostile text", async () => {
  const owner = await signedIn();
  // Titles and texts are set in the database: whatever the upload route accepts today, rows
  // written before (or by the bulk loader) may hold any of these.
  const title = `Forged ${S}quokka${E} and ${E} stray ${S} <mark>quokka</mark> &lt;b&gt; \u0001\u001b\u007f\u0085 end`;
  const text = `Text with ${S}quokka${E} forged, a lone ${S} start, <mark>unclosed and &lt;script&gt; \u0007 bell ${E}.`;
  const upload = await created(rawUpload(owner.auth, "placeholder words", "text/plain", { title: "Placeholder" }));
  expect((await processed(owner.auth, upload.id)).status).toBe("ready");
  await asSystem(async (tx) => {
    await tx.update(documents).set({ title }).where(eq(documents.id, upload.id));
    await tx.update(documentContent).set({ text }).where(eq(documentContent.documentId, upload.id));
  });

  it("marks only real matches, escapes the rest, and drops control characters (with a query)", async () => {
    const [hit] = (await search(owner.auth, { q: "quokka" })).body.data;
    expect(hit?.document.id).toBe(upload.id);
    expect(hit?.highlights.title).toBe(
      "Forged <mark>quokka</mark> and stray &lt;mark&gt;<mark>quokka</mark>&lt;/mark&gt; &amp;lt;b&amp;gt; end",
    );
    expect(hit?.highlights.content).toBe(
      "Text with <mark>quokka</mark> forged, a lone start, &lt;mark&gt;unclosed and &amp;lt;script&amp;gt; bell",
    );
    expectBalancedMarks(hit?.highlights.title);
    expectBalancedMarks(hit?.highlights.content);
  });

  it("marks nothing when browsing without a query", async () => {
    const [hit] = (await search(owner.auth, {})).body.data;
    expect(hit?.document.id).toBe(upload.id);
    expect(hit?.highlights.title).toBe("Forged quokka and stray &lt;mark&gt;quokka&lt;/mark&gt; &amp;lt;b&amp;gt; end");
    expect(hit?.highlights.content).toBe(
      "Text with quokka forged, a lone start, &lt;mark&gt;unclosed and &amp;lt;script&amp;gt; bell .",
    );
    expectBalancedMarks(hit?.highlights.title);
    expectBalancedMarks(hit?.highlights.content);
  });
});

describe("results cached before highlights were made safe", () => {
  const redis = new Redis({
    url: testEnv.UPSTASH_REDIS_REST_URL,
    token: testEnv.UPSTASH_REDIS_REST_TOKEN,
    enableTelemetry: false,
  });

  it("are not served: the cache's keys changed with what its entries hold", async () => {
    const owner = await signedIn();
    const doc = await created(rawUpload(owner.auth, "wombat burrows", "text/plain", { title: "Wombat notes" }));
    await processed(owner.auth, doc.id);
    expect((await search(owner.auth, { q: "wombat" })).cache).toBe("MISS");
    // Served from the cache once: the entry is stored and its generation is the scope's.
    await cachedSearch(owner.auth, { q: "wombat" });
    const keys = await redis.keys(`search:*:user:${owner.user.id}:*`);
    expect(keys).toHaveLength(1);
    const key = keys[0] ?? "";
    const stale = await redis.get<{ g: string; v: { data: { highlights: { title: string } }[] } }>(key);
    expect(stale?.v.data).toHaveLength(1);
    // The same search as the previous release cached it (keys `search:v1:<scope>:<request digest>`),
    // with a highlight a document could forge then.
    const forged = structuredClone(stale) as NonNullable<typeof stale>;
    for (const hit of forged.v.data) hit.highlights.title = "<mark><img src=x onerror=alert(1)>";
    await redis.del(key);
    await redis.set(key.replace(/^search:[^:]+:/, "search:v1:"), forged, { ex: 300 });

    const again = await search(owner.auth, { q: "wombat" });
    expect(again.cache).toBe("MISS");
    expect(again.body.data[0]?.highlights.title).toBe("<mark>Wombat</mark> notes");
  });
});
