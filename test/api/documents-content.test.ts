import { PhotonImage } from "@cf-wasm/photon";
import { describe, expect, it } from "vitest";
import { signedIn } from "../auth-helpers.ts";
import {
  bodyBytes,
  created,
  type DocumentJson,
  formUpload,
  processed,
  rawUpload,
  type VersionJson,
} from "../document-helpers.ts";
import { EICAR, jpeg, png } from "../fixtures/files.ts";
import { api, expectProblem } from "../helpers.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const ALPHABET = "abcdefghijklmnopqrstuvwxyz".repeat(40); // 1040 bytes

async function readyText(auth: Record<string, string>, body = ALPHABET, name = "letters.txt") {
  const doc = await created(formUpload(auth, { bytes: body, type: "text/plain", name }, { title: "letters" }));
  return processed(auth, doc.id);
}

describe("GET /documents/{id}/content", () => {
  it("streams the file with its type, length, disposition and ETag", async () => {
    const { auth } = await signedIn();
    const doc = await readyText(auth, ALPHABET, "récit.txt");
    const res = await api(`/documents/${doc.id}/content`, { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain");
    expect(res.headers.get("content-length")).toBe("1040");
    expect(res.headers.get("accept-ranges")).toBe("bytes");
    expect(res.headers.get("etag")).toBe(`"${doc.sha256}"`);
    expect(res.headers.get("content-disposition")).toBe(
      `attachment; filename="r_cit.txt"; filename*=UTF-8''r%C3%A9cit.txt`,
    );
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(text(await bodyBytes(res))).toBe(ALPHABET);

    const inline = await api(`/documents/${doc.id}/content?disposition=inline`, { headers: auth });
    expect(inline.headers.get("content-disposition")).toMatch(/^inline;/);
    await inline.body?.cancel();
  });

  it("never renders HTML inline in our origin", async () => {
    const { auth } = await signedIn();
    const doc = await created(rawUpload(auth, "<h1>hi</h1><script>alert(1)</script>", "text/html", { title: "page" }));
    await processed(auth, doc.id);
    const res = await api(`/documents/${doc.id}/content?disposition=inline`, { headers: auth });
    expect(res.headers.get("content-disposition")).toMatch(/^attachment;/);
    await res.body?.cancel();
  });

  it("serves byte ranges (206), suffixes and open ends, and 416 outside the file", async () => {
    const { auth } = await signedIn();
    const doc = await readyText(auth);
    const range = async (header: string) =>
      api(`/documents/${doc.id}/content`, { headers: { ...auth, range: header } });

    const first = await range("bytes=0-9");
    expect(first.status).toBe(206);
    expect(first.headers.get("content-range")).toBe("bytes 0-9/1040");
    expect(first.headers.get("content-length")).toBe("10");
    expect(text(await bodyBytes(first))).toBe("abcdefghij");

    const middle = await range("bytes=26-28");
    expect(text(await bodyBytes(middle))).toBe("abc");

    const open = await range("bytes=1035-");
    expect(open.headers.get("content-range")).toBe("bytes 1035-1039/1040");
    expect(text(await bodyBytes(open))).toBe("vwxyz");

    const suffix = await range("bytes=-3");
    expect(suffix.headers.get("content-range")).toBe("bytes 1037-1039/1040");
    expect(text(await bodyBytes(suffix))).toBe("xyz");

    const beyond = await expectProblem(await range("bytes=2000-3000"), 416);
    expect(beyond.type).toBe("/problems/range_not_satisfiable");
    // Several ranges, or nonsense: the whole file (RFC 9110 allows ignoring Range).
    const whole = await range("bytes=0-1,5-6");
    expect(whole.status).toBe(200);
    await whole.body?.cancel();
  });

  it("answers 304 to a matching If-None-Match", async () => {
    const { auth } = await signedIn();
    const doc = await readyText(auth);
    const res = await api(`/documents/${doc.id}/content`, { headers: { ...auth, "if-none-match": `"${doc.sha256}"` } });
    expect(res.status).toBe(304);
    expect(await res.text()).toBe("");
  });

  it("refuses quarantined content for good", async () => {
    const { auth } = await signedIn();
    const doc = await created(rawUpload(auth, EICAR, "text/plain", { title: "eicar" }));
    expect((await processed(auth, doc.id)).status).toBe("quarantined");
    const problem = await expectProblem(await api(`/documents/${doc.id}/content`, { headers: auth }), 409);
    expect(problem.detail).toMatch(/quarantined/);
    const restore = await expectProblem(
      await api(`/documents/${doc.id}/versions/1/restore`, { method: "POST", headers: auth }),
      409,
    );
    expect(restore.detail).toMatch(/quarantined/);
  });
});

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

  it("refuses a conversion that does not apply to the type", async () => {
    const { auth } = await signedIn();
    const doc = await readyText(auth);
    const problem = await expectProblem(await api(`/documents/${doc.id}/content?format=webp`, { headers: auth }), 400);
    expect(problem.errors).toEqual([{ in: "query", pointer: "/format", message: "not available for text/plain" }]);
    await expectProblem(await api(`/documents/${doc.id}/content?format=gif`, { headers: auth }), 400);
  });
});

describe("versions", () => {
  it("uploads new versions, lists them, serves any, and restores an old one as a new version", async () => {
    const { auth } = await signedIn();
    const doc = await created(rawUpload(auth, "first draft", "text/plain", { title: "essay" }));
    await processed(auth, doc.id);
    const second = await created(
      rawUpload(auth, "second draft", "text/plain", {
        path: `/documents/${doc.id}/versions`,
        title: "essay v2",
        tags: "final",
      }),
    );
    expect(second).toMatchObject({
      id: doc.id,
      currentVersion: 2,
      title: "essay v2",
      tags: ["final"],
      status: "pending",
    });
    await processed(auth, doc.id);

    const list = (await (await api(`/documents/${doc.id}/versions`, { headers: auth })).json()) as {
      data: VersionJson[];
    };
    expect(list.data.map((v) => [v.version, v.status, v.sizeBytes])).toEqual([
      [2, "ready", 12],
      [1, "ready", 11],
    ]);
    const current = await api(`/documents/${doc.id}/content`, { headers: auth });
    expect(await current.text()).toBe("second draft");
    const old = await api(`/documents/${doc.id}/content?version=1`, { headers: auth });
    expect(await old.text()).toBe("first draft");

    const restoreRes = await api(`/documents/${doc.id}/versions/1/restore`, { method: "POST", headers: auth });
    expect(restoreRes.status).toBe(201);
    const restored = (await restoreRes.json()) as DocumentJson;
    expect(restored).toMatchObject({ currentVersion: 3, sha256: doc.sha256, sizeBytes: 11 });
    expect((await processed(auth, doc.id)).status).toBe("ready");
    expect(await (await api(`/documents/${doc.id}/content`, { headers: auth })).text()).toBe("first draft");
    const after = (await (await api(`/documents/${doc.id}/versions`, { headers: auth })).json()) as {
      data: VersionJson[];
    };
    expect(after.data[0]).toMatchObject({ version: 3, restoredFrom: 1 });
    // Version 2 is still there, unchanged.
    expect(await (await api(`/documents/${doc.id}/content?version=2`, { headers: auth })).text()).toBe("second draft");

    await expectProblem(await api(`/documents/${doc.id}/content?version=9`, { headers: auth }), 404);
    await expectProblem(await api(`/documents/${doc.id}/versions/9/restore`, { method: "POST", headers: auth }), 404);
  });

  it("gives each version its own thumbnail", async () => {
    const { auth } = await signedIn();
    const doc = await created(formUpload(auth, { bytes: png(400, 100), type: "image/png", name: "wide.png" }));
    await processed(auth, doc.id);
    await created(
      formUpload(
        auth,
        { bytes: png(100, 400), type: "image/png", name: "tall.png" },
        {},
        `/documents/${doc.id}/versions`,
      ),
    );
    await processed(auth, doc.id);
    const size = async (query: string) => {
      const res = await api(`/documents/${doc.id}/thumbnail${query}`, { headers: auth });
      expect(res.status).toBe(200);
      const image = PhotonImage.new_from_byteslice(await bodyBytes(res));
      const dims = [image.get_width(), image.get_height()];
      image.free();
      return dims;
    };
    expect(await size("")).toEqual([64, 256]);
    expect(await size("?version=1")).toEqual([256, 64]);
    const textDoc = await readyText(auth);
    await expectProblem(await api(`/documents/${textDoc.id}/thumbnail`, { headers: auth }), 404);
  });
});
