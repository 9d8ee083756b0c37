import { describe, expect, it } from "vitest";
import { MARKDOWN_PAGE_POLICY } from "../../src/documents/convert.ts";
import { SECURITY_HEADERS } from "../../src/gateway/security-headers.ts";
import { signedIn } from "../auth-helpers.ts";
import { created, processed, rawUpload } from "../document-helpers.ts";
import { api } from "../helpers.ts";

// The renderer's rules for links and images, and its cost: test/unit/markdown-html.test.ts.
describe("GET /documents/{id}/content?format=html", () => {
  it("serves the page without live script links, under a sandboxing policy beside the platform's", async () => {
    const { auth } = await signedIn();
    const markdown = [
      "# Links",
      "",
      "[one](javascript:alert(1)) [two](&#106;avascript:alert(2)) <javascript:alert(3)>",
      "![four](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoNCk+) [five][r] [safe](https://example.com)",
      "",
      "[r]: JAVASCRIPT:alert(5)",
    ].join("\n");
    const doc = await created(rawUpload(auth, markdown, "text/markdown", { title: "links" }));
    await processed(auth, doc.id);
    const res = await api(`/documents/${doc.id}/content?format=html`, { headers: auth });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('<p>one two javascript:alert(3)\nfour five <a href="https://example.com">safe</a></p>');
    expect(html.match(/\b(?:href|src)=/g)).toEqual(["href="]);
    const policies = (res.headers.get("content-security-policy") ?? "").split(", ");
    expect(policies).toEqual([SECURITY_HEADERS["Content-Security-Policy"], MARKDOWN_PAGE_POLICY]);
  });

  it("does not confirm a page an earlier renderer made as current", async () => {
    const { auth } = await signedIn();
    const doc = await created(rawUpload(auth, "[x](javascript:alert(1))\n", "text/markdown", { title: "old" }));
    await processed(auth, doc.id);
    // The entity tag the page had before links were checked: the file's digest, the format and the title's.
    const titleHash = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode("old")));
    const hex = Array.from(titleHash.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
    const res = await api(`/documents/${doc.id}/content?format=html`, {
      headers: { ...auth, "if-none-match": `W/"${doc.sha256}.html.${hex}"` },
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("<p>x</p>");
  });
});
