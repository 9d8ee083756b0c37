import { PhotonImage } from "@cf-wasm/photon";
import { describe, expect, it } from "vitest";
import { signedIn } from "../auth-helpers.ts";
import { bodyBytes, created, formUpload, processed, rawUpload, readyText } from "../document-helpers.ts";
import { jpeg, png } from "../fixtures/files.ts";
import { api, expectProblem } from "../helpers.ts";

describe("conversion on request", () => {
  it("renders Markdown as a safe HTML page", async () => {
    const { auth } = await signedIn();
    const md = "# Plan\n\n**Bold** move.\n\n<script>alert('x')</script>\n";
    const doc = await created(rawUpload(auth, md, "text/markdown", { title: "plan" }));
    await processed(auth, doc.id);
    const res = await api(`/documents/${doc.id}/content?format=html`, { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="plan\.html"/);
    const html = await res.text();
    expect(html).toContain("<h1>Plan</h1>");
    expect(html).toContain("<strong>Bold</strong>");
    expect(html).not.toContain("<script>");
    expect(html).toContain("&lt;script&gt;");
  });

  it("converts images to WebP and PNG", async () => {
    const { auth } = await signedIn();
    const doc = await created(formUpload(auth, { bytes: jpeg(120, 80), type: "image/jpeg", name: "photo.jpg" }));
    await processed(auth, doc.id);
    for (const [format, magic] of [
      ["webp", "RIFF"],
      ["png", "\x89PNG"],
    ] as const) {
      const res = await api(`/documents/${doc.id}/content?format=${format}&disposition=inline`, { headers: auth });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe(`image/${format}`);
      expect(res.headers.get("content-disposition")).toBe(
        `inline; filename="photo.${format}"; filename*=UTF-8''photo.${format}`,
      );
      const bytes = await bodyBytes(res);
      expect(String.fromCharCode(...bytes.subarray(0, 4))).toBe(magic);
      const image = PhotonImage.new_from_byteslice(bytes);
      expect([image.get_width(), image.get_height()]).toEqual([120, 80]);
      image.free();
    }
  });

  it("gives converted content its own weak ETag and answers 304 and 412 without converting again", async () => {
    const { auth } = await signedIn();
    const doc = await created(rawUpload(auth, "# Plan\n", "text/markdown", { title: "plan" }));
    await processed(auth, doc.id);
    const path = `/documents/${doc.id}/content?format=html`;
    const res = await api(path, { headers: auth });
    expect(res.status).toBe(200);
    await res.body?.cancel();
    const etag = res.headers.get("etag") ?? "";
    expect(etag).toMatch(/^W\/"[^"]+"$/);
    expect(etag).not.toContain(`"${doc.sha256}"`);
    expect(res.headers.get("last-modified")).toBeTruthy();
    const again = await api(path, { headers: { ...auth, "if-none-match": etag } });
    expect(again.status).toBe(304);
    expect(again.headers.get("etag")).toBe(etag);
    await expectProblem(await api(path, { headers: { ...auth, "if-match": etag } }), 412);
    // The page carries the title: renaming the document changes the representation.
    await api(`/documents/${doc.id}`, {
      method: "PATCH",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ title: "renamed" }),
    });
    const renamed = await api(path, { headers: { ...auth, "if-none-match": etag } });
    expect(renamed.status).toBe(200);
    expect(await renamed.text()).toContain("renamed");

    const image = await created(formUpload(auth, { bytes: png(40, 20), type: "image/png", name: "i.png" }));
    await processed(auth, image.id);
    const webp = await api(`/documents/${image.id}/content?format=webp`, { headers: auth });
    await webp.body?.cancel();
    const webpTag = webp.headers.get("etag") ?? "";
    expect(webpTag).toMatch(/^W\//);
    const cached = await api(`/documents/${image.id}/content?format=webp`, {
      headers: { ...auth, "if-none-match": webpTag },
    });
    expect(cached.status).toBe(304);
  });

  it("refuses a conversion that does not apply to the type", async () => {
    const { auth } = await signedIn();
    const doc = await readyText(auth);
    const problem = await expectProblem(await api(`/documents/${doc.id}/content?format=webp`, { headers: auth }), 400);
    expect(problem.errors).toEqual([{ in: "query", pointer: "/format", message: "not available for text/plain" }]);
    await expectProblem(await api(`/documents/${doc.id}/content?format=gif`, { headers: auth }), 400);
  });
});
