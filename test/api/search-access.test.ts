import { describe, expect, it } from "vitest";
import { signedIn, signedInAdmin } from "../auth-helpers.ts";
import { created, processed, rawUpload } from "../document-helpers.ts";
import { EICAR } from "../fixtures/files.ts";
import { api } from "../helpers.ts";
import { search, sorted, suggestions, textDocument } from "../search-helpers.ts";

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
