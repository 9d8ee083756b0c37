import { Redis } from "@upstash/redis/cloudflare";
import { afterEach, describe, expect, inject, it, vi } from "vitest";
import { SEARCH_CACHE_PREFIX, SEARCH_TTL_SECONDS } from "../../src/search/search-cache.ts";
import { signedIn, signedInAdmin } from "../auth-helpers.ts";
import { created, processed, rawUpload } from "../document-helpers.ts";
import { eventually } from "../eventually.ts";
import { api, apiWith, captureLines, outage, outageBindings, outageUser, testEnv } from "../helpers.ts";
import { cachedSearch, type Searched, search, suggestions } from "../search-helpers.ts";

type Auth = Record<string, string>;

const redis = new Redis({
  url: testEnv.UPSTASH_REDIS_REST_URL,
  token: testEnv.UPSTASH_REDIS_REST_TOKEN,
  enableTelemetry: false,
});

/** The body without the per-request id, to compare a cached answer with a computed one. */
const results = (searched: Searched) => {
  const { queryId: _, ...rest } = searched.body;
  return rest;
};

async function titledDocument(auth: Auth, title: string, text = "some text"): Promise<string> {
  const doc = await created(rawUpload(auth, text, "text/plain", { title }));
  await processed(auth, doc.id);
  return doc.id;
}

const patch = (auth: Auth, id: string, body: unknown) =>
  api(`/documents/${id}`, {
    method: "PATCH",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify(body),
  });

describe("the search cache", () => {
  it("answers a repeated search from the cache, for five minutes", async () => {
    const user = await signedIn();
    await titledDocument(user.auth, "Capybara handbook");
    const first = await search(user.auth, { q: "capybara" });
    expect(first.cache).toBe("MISS");
    expect(first.body.total).toBe(1);
    const second = await cachedSearch(user.auth, { q: "capybara" });
    expect(results(second)).toEqual(results(first));
    expect(second.body.queryId).not.toBe(first.body.queryId);

    const keys = await redis.keys(`${SEARCH_CACHE_PREFIX}user:${user.user.id}:*`);
    expect(keys).toHaveLength(1);
    const ttl = await redis.ttl(keys[0] as string);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(SEARCH_TTL_SECONDS);
  });

  it("keys entries by the normalised query, the filters and the page", async () => {
    const user = await signedIn();
    await titledDocument(user.auth, "Axolotl care");
    await titledDocument(user.auth, "Axolotl breeding");
    expect((await search(user.auth, { q: "Axolotl" })).cache).toBe("MISS");
    await cachedSearch(user.auth, { q: "Axolotl" });
    expect((await search(user.auth, { q: "  axolotl " })).cache).toBe("HIT");
    expect((await search(user.auth, { q: "axolotl", sort: "recent" })).cache).toBe("MISS");
    expect((await search(user.auth, { q: "axolotl", type: "text/plain" })).cache).toBe("MISS");
    const page = await search(user.auth, { q: "axolotl", limit: 1 });
    expect(page.cache).toBe("MISS");
    const next = await search(user.auth, { q: "axolotl", limit: 1, cursor: page.body.nextCursor ?? "" });
    expect(next.cache).toBe("MISS");
    expect(next.body.data[0]?.document.id).not.toBe(page.body.data[0]?.document.id);
    const again = await cachedSearch(user.auth, { q: "axolotl", limit: 1, cursor: page.body.nextCursor ?? "" });
    expect(again.body.data).toEqual(next.body.data);
  });

  it("never serves one user's results to another", async () => {
    const alice = await signedIn();
    const bob = await signedIn();
    const admin = await signedInAdmin();
    const aliceDoc = await titledDocument(alice.auth, "Pangolin ledger");
    const bobDoc = await titledDocument(bob.auth, "Pangolin ledger");
    const forAlice = await search(alice.auth, { q: "pangolin ledger" });
    expect(forAlice.body.data.map((hit) => hit.document.id)).toEqual([aliceDoc]);
    const forBob = await search(bob.auth, { q: "pangolin ledger" });
    expect(forBob.cache).toBe("MISS");
    expect(forBob.body.data.map((hit) => hit.document.id)).toEqual([bobDoc]);
    const forAdmin = await search(admin.auth, { q: "pangolin ledger", limit: 50 });
    expect(forAdmin.cache).toBe("MISS");
    expect(forAdmin.body.data.map((hit) => hit.document.id)).toEqual(expect.arrayContaining([aliceDoc, bobDoc]));
  });

  it("is made stale by a change to a document the user can see, and only for those who can see it", async () => {
    const alice = await signedIn();
    const bob = await signedIn();
    const id = await titledDocument(alice.auth, "Wombat itinerary");
    await titledDocument(bob.auth, "Wombat itinerary");
    await cachedSearch(alice.auth, { q: "wombat" });
    await cachedSearch(bob.auth, { q: "wombat" });

    expect((await patch(alice.auth, id, { title: "Wombat itinerary, revised" })).status).toBe(200);
    const afterEdit = await search(alice.auth, { q: "wombat" });
    expect(afterEdit.cache).toBe("MISS");
    expect(afterEdit.body.data[0]?.document.title).toBe("Wombat itinerary, revised");
    // Bob cannot see Alice's document: his entry stays.
    expect((await search(bob.auth, { q: "wombat" })).cache).toBe("HIT");

    // Sharing changes what Bob can see: his entry goes, and he finds the document at once.
    const share = await api(`/documents/${id}/shares`, {
      method: "PUT",
      headers: { ...alice.auth, "content-type": "application/json" },
      body: JSON.stringify({ user: bob.user.username, access: "read" }),
    });
    expect(share.status).toBe(200);
    const shared = await search(bob.auth, { q: "wombat" });
    expect(shared.cache).toBe("MISS");
    expect(shared.body.total).toBe(2);

    // Now a change by Alice reaches Bob's results too; so does taking the share back.
    expect((await patch(alice.auth, id, { tags: ["travel"] })).status).toBe(200);
    expect((await search(bob.auth, { q: "wombat" })).cache).toBe("MISS");
    expect(
      (await api(`/documents/${id}/shares/${bob.user.id}`, { method: "DELETE", headers: alice.auth })).status,
    ).toBe(204);
    const unshared = await search(bob.auth, { q: "wombat" });
    expect(unshared.cache).toBe("MISS");
    expect(unshared.body.total).toBe(1);

    expect((await api(`/documents/${id}`, { method: "DELETE", headers: alice.auth })).status).toBe(204);
    const deleted = await search(alice.auth, { q: "wombat" });
    expect(deleted.cache).toBe("MISS");
    expect(deleted.body.total).toBe(0);
  });

  it("finds a new version's text once it is processed (the old answer is not served)", async () => {
    const user = await signedIn();
    const id = await titledDocument(user.auth, "Tapir field log", "first draft");
    expect((await cachedSearch(user.auth, { q: "marmoset" })).body.total).toBe(0);
    const version = await rawUpload(user.auth, "the marmoset appears in the second draft", "text/plain", {
      path: `/documents/${id}/versions`,
    });
    expect(version.status).toBe(201);
    await processed(user.auth, id);
    const found = await search(user.auth, { q: "marmoset" });
    expect(found.body.total).toBe(1);
    expect(found.cache).toBe("MISS");
  });
});

describe("without Redis", () => {
  // Warnings are what these tests look for (the test stack logs errors only).
  const env = { ...outageBindings(), LOG_LEVEL: "warn" } as Partial<Env>;
  afterEach(async () => {
    vi.restoreAllMocks();
    await outage("redis", "resume");
    await outage("redis", "start");
  });

  async function outageDocument(auth: Auth, title: string): Promise<string> {
    const res = await apiWith(env, `/documents?title=${encodeURIComponent(title)}`, {
      method: "POST",
      headers: { ...auth, "content-type": "text/plain", "content-length": "4" },
      body: "text",
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  }

  const outageSearch = (auth: Auth, q: string) => search(auth, { q }, (path, init) => apiWith(env, path, init));

  for (const failure of ["stopped", "frozen"] as const) {
    it(`answers from Postgres when Redis is ${failure}, with a log line`, async () => {
      const auth = await outageUser();
      const id = await outageDocument(auth, "Ocelot survey");
      expect((await outageSearch(auth, "ocelot")).cache).toBe("MISS");
      await cachedSearch(auth, { q: "ocelot" }, (path, init) => apiWith(env, path, init));

      await outage("redis", failure === "stopped" ? "stop" : "pause");
      const lines = await captureLines(async () => {
        const answer = await outageSearch(auth, "ocelot");
        expect(answer.cache).toBe("MISS");
        expect(answer.body.data.map((hit) => hit.document.id)).toEqual([id]);
        // Writes go on too; their invalidation is logged instead.
        const renamed = await apiWith(env, `/documents/${id}`, {
          method: "PATCH",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify({ title: "Ocelot survey, final" }),
        });
        expect(renamed.status).toBe(200);
        const again = await outageSearch(auth, "ocelot");
        expect(again.body.data[0]?.document.title).toBe("Ocelot survey, final");
      });
      const messages = lines.map((line) => line.message);
      expect(messages).toContain("search cache unavailable; answering from Postgres");
      expect(messages).toContain("search cache invalidation failed");
      expect(lines.filter((line) => line.level === "error")).toEqual([]);
    });
  }
});

describe("a cached answer", () => {
  const env = { ...outageBindings(), LOG_LEVEL: "warn" } as Partial<Env>;
  const outageFetch = (path: string, init?: RequestInit) => apiWith(env, path, init);
  afterEach(async () => {
    await outage("postgres", "start");
  });

  // Neither the answer nor anything the request waits for touches Postgres: with Postgres gone,
  // a search that awaited any statement would answer 503.
  it("is served with Postgres stopped: the search is recorded after the response, never before it", async () => {
    const auth = await outageUser();
    const first = await search(auth, { q: "quokka" }, outageFetch);
    expect(first.cache).toBe("MISS");
    await cachedSearch(auth, { q: "quokka" }, outageFetch);

    await outage("postgres", "stop");
    const lines = await captureLines(async () => {
      const answer = await search(auth, { q: "quokka" }, outageFetch);
      expect(answer.cache).toBe("HIT");
      expect(results(answer)).toEqual(results(first));
    });
    // The record, written after the response, is what failed (and was logged, not answered).
    expect(lines.map((line) => line.message)).toContain("recording a search failed");
    const missed = await outageFetch("/search?q=wallaby", { headers: auth });
    expect(missed.status).toBe(503);
    await missed.arrayBuffer();
  });
});

describe("round trips to Postgres, counted by the stack's meter", () => {
  // Provided by test/global-setup.ts, whose ProvidedContext declaration the workers' tsconfig does not see.
  const meterUrl = (inject as (key: string) => unknown)("meterUrl") as string;
  type Counts = Record<"postgres" | "redis" | "s3", { roundTrips: number; sequential: number }>;
  const counts = async (): Promise<Counts> => (await fetch(`${meterUrl}/round-trips`)).json();

  /**
   * The Postgres round trips of `request` and of the work it leaves running, once `settled` (the
   * count it must reach); nothing else in this file touches Postgres meanwhile (tests run one at a
   * time).
   */
  async function postgresRoundTrips(request: () => Promise<unknown>, settled: number): Promise<number> {
    expect((await fetch(`${meterUrl}/round-trips/reset`, { method: "POST" })).status).toBe(204);
    await request();
    const { postgres } = await eventually(async () => {
      const now = await counts();
      return now.postgres.roundTrips >= settled ? now : undefined;
    });
    return postgres.roundTrips;
  }

  // Browsing, so that no "did you mean" follows, by a user without documents, so that no processing
  // runs meanwhile.
  it("a search is one round trip and its record one more (also when nothing matched); a cached search only the record; a suggestion one", async () => {
    const user = await signedIn();
    expect(await postgresRoundTrips(() => search(user.auth, { sort: "recent" }), 2)).toBe(2);
    await cachedSearch(user.auth, { sort: "recent" });
    expect(await postgresRoundTrips(() => cachedSearch(user.auth, { sort: "recent" }), 1)).toBe(1);
    expect(await postgresRoundTrips(() => suggestions(user.auth, "numb"), 1)).toBe(1);
    // Nothing matches: "did you mean" looked for corrections in the same batch (none found).
    const unmatched = await postgresRoundTrips(() => search(user.auth, { q: "quixotry" }), 2);
    expect(unmatched).toBe(2);
  });
});
