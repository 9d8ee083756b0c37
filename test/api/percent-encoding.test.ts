import { describe, expect, it } from "vitest";
import { signedIn } from "../auth-helpers.ts";
import { created, rawUpload } from "../document-helpers.ts";
import { api, expectProblem } from "../helpers.ts";

/** A 400 naming where the bad percent-encoding is. */
async function refused(res: Response, where: string, pointer: string): Promise<void> {
  const problem = await expectProblem(res, 400);
  expect(problem.type).toBe("/problems/validation_failed");
  expect(problem.errors?.map((e) => `${e.in} ${e.pointer}`)).toEqual([`${where} ${pointer}`]);
}

// Percent-encoding that does not spell UTF-8 was left undecoded and taken as literal text: a
// title "%ED%A0%80x" was stored, searched and counted as a popular query.
describe("percent-encoding that does not decode is refused, naming the parameter", () => {
  it("in query parameters of uploads, lists and searches, and in paths", async () => {
    const { auth } = await signedIn();
    const upload = { method: "POST", headers: { ...auth, "content-type": "text/plain" }, body: "text" };
    await refused(await api("/documents?title=%ED%A0%80x", upload), "query", "/title");
    await refused(await api("/documents?tag=%E0%A4%A", { headers: auth }), "query", "/tag");
    await refused(await api("/search?q=%ED%A0%80", { headers: auth }), "query", "/q");
    await refused(await api("/search/suggest?q=ab%", { headers: auth }), "query", "/q");
    await refused(await api("/documents/%E0%A4%A", { headers: auth }), "path", "");
  });

  it("while well-formed encodings, '+' and plain text pass", async () => {
    const { auth } = await signedIn();
    // (Encoded by URLSearchParams: "%" travels as %25.)
    const doc = await created(rawUpload(auth, "text", "text/plain", { title: "café 100% sure %ED" }));
    expect(doc.title).toBe("café 100% sure %ED");
    expect((await api("/search?q=caf%C3%A9+sure", { headers: auth })).status).toBe(200);
  });
});
