import { describe, expect, it } from "vitest";
import { signedIn } from "../auth-helpers.ts";
import { api, expectProblem } from "../helpers.ts";
import { suggestions, textDocument } from "../search-helpers.ts";

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
