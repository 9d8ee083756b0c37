import { describe, expect, it } from "vitest";
import { signedIn } from "../auth-helpers.ts";
import {
  created,
  type DocumentJson,
  formUpload,
  keysIn,
  type NotificationPage,
  processed,
  rawUpload,
} from "../document-helpers.ts";
import { docx, pdf, png, sha256Hex } from "../fixtures/files.ts";
import { api, eventually, expectProblem, testEnv } from "../helpers.ts";

const stackEnv = testEnv as unknown as Record<string, string>;

describe("POST /documents (multipart)", () => {
  it("uploads, then scan → text extracted → thumbnail → notification, through the real queue", async () => {
    const { auth } = await signedIn();
    const image = png(800, 600);
    const doc = await created(
      formUpload(
        auth,
        { bytes: image, type: "image/png", name: "chart.png" },
        { title: "Sales chart", tags: ["Finance", "q3"] },
      ),
    );
    expect(doc).toMatchObject({
      title: "Sales chart",
      tags: ["finance", "q3"],
      contentType: "image/png",
      sizeBytes: image.byteLength,
      sha256: await sha256Hex(image),
      currentVersion: 1,
      status: "pending",
      scanResult: null,
    });
    const keys = await keysIn(stackEnv, `documents/${doc.id}/`);
    expect(keys).toHaveLength(1);

    const ready = await processed(auth, doc.id);
    expect(ready).toMatchObject({ status: "ready", scanResult: "clean", failureReason: null });
    const thumb = await api(`/documents/${doc.id}/thumbnail`, { headers: auth });
    expect(thumb.status).toBe(200);
    expect(thumb.headers.get("content-type")).toBe("image/webp");
    expect(await keysIn(stackEnv, `documents/${doc.id}/`, stackEnv.S3_THUMBNAILS_BUCKET)).toEqual([
      `documents/${doc.id}/v1.webp`,
    ]);

    const page = await eventually(async () => {
      const body = (await (await api("/notifications", { headers: auth })).json()) as NotificationPage;
      return body.data.length > 0 ? body : undefined;
    });
    expect(page.unreadCount).toBe(1);
    expect(page.data[0]).toMatchObject({ type: "document.ready", title: "“Sales chart” is ready", read: false });
    expect(page.data[0]?.data).toMatchObject({ documentId: doc.id, version: 1 });
  });

  it("takes the fields in any order, the title from the file name, the type from bytes and name", async () => {
    const { auth } = await signedIn();
    const form = new FormData();
    // No type, as curl -F sends a .md file (application/octet-stream): inferred as Markdown.
    form.append("file", new File(["# Notes"], "notes.md", { type: "" }));
    form.append("tags", "a, b");
    form.append("tags", "c");
    const doc = await created(api("/documents", { method: "POST", headers: auth, body: form }));
    expect(doc).toMatchObject({ title: "notes.md", tags: ["a", "b", "c"], contentType: "text/markdown" });
  });

  it("indexes PDF and DOCX text", async () => {
    const { auth } = await signedIn();
    const fromPdf = await created(formUpload(auth, { bytes: pdf(["Budget 2027 draft"]), type: "application/pdf" }));
    const fromDocx = await created(
      formUpload(auth, {
        bytes: docx(["Hiring plan"]),
        type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        name: "plan.docx",
      }),
    );
    expect((await processed(auth, fromPdf.id)).status).toBe("ready");
    expect((await processed(auth, fromDocx.id)).status).toBe("ready");
  });

  it("refuses a spoofed content type (415): the declared type must match the bytes", async () => {
    const { auth } = await signedIn();
    const cases = [
      { bytes: png(10, 10), type: "application/pdf" },
      { bytes: pdf(["x"]), type: "image/png" },
      // An executable (ELF) declared as text.
      { bytes: new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0]), type: "text/plain" },
      { bytes: png(10, 10), type: "text/plain" },
      // Allowed types only.
      { bytes: "#!/bin/sh\necho hi\n", type: "application/x-sh" },
    ];
    for (const file of cases) {
      const problem = await expectProblem(await formUpload(auth, { ...file, name: "f" }, { title: "spoof" }), 415);
      expect(problem.type).toBe("/problems/unsupported_media_type");
    }
    const before = (await (await api("/documents", { headers: auth })).json()) as { data: unknown[] };
    expect(before.data).toEqual([]);
  });

  it("refuses text that stops being UTF-8 after the sniffed head (it is served as charset=utf-8), keeping nothing", async () => {
    const { auth, user } = await signedIn();
    const head = new TextEncoder().encode("x".repeat(10_000));
    for (const tail of [
      [0xff, 0x41],
      [0x41, 0x00, 0x41],
      [0xe2, 0x98],
    ]) {
      const problem = await expectProblem(
        await rawUpload(auth, new Uint8Array([...head, ...tail]), "text/plain", { title: "latin" }),
        415,
      );
      expect(problem.detail).toMatch(/not UTF-8 text/);
    }
    const list = (await (await api(`/documents?owner=${user.id}`, { headers: auth })).json()) as { data: unknown[] };
    expect(list.data).toEqual([]);
  });

  it("takes text under another declared charset only when it is ASCII, the same in UTF-8", async () => {
    const { auth } = await signedIn();
    const ascii = await created(rawUpload(auth, "plain ascii", "text/plain; charset=ISO-8859-1", { title: "a" }));
    expect(ascii.contentType).toBe("text/plain");
    // Valid UTF-8 bytes ("café"), but in ISO-8859-1 they mean "cafÃ©": serving them as UTF-8 would change the text.
    const problem = await expectProblem(
      await rawUpload(auth, new Uint8Array([0x63, 0x61, 0x66, 0xc3, 0xa9]), "text/plain; charset=iso-8859-1"),
      415,
    );
    expect(problem.detail).toMatch(/charset iso-8859-1/);
    expect((await created(rawUpload(auth, "café", "text/plain; charset=UTF-8", { title: "u" }))).sizeBytes).toBe(5);
  });

  it("validates fields, naming each failing one", async () => {
    const { auth } = await signedIn();
    const file = { bytes: "text", type: "text/plain" };
    const badTag = await expectProblem(await formUpload(auth, file, { tags: ["no/slashes"] }), 400);
    expect(badTag.errors).toEqual([{ in: "body", pointer: "/tags", message: expect.any(String) }]);
    const longTitle = await expectProblem(await formUpload(auth, file, { title: "x".repeat(256) }), 400);
    expect(longTitle.errors?.[0]?.pointer).toBe("/title");

    const noFile = new FormData();
    noFile.append("title", "nothing");
    const missing = await expectProblem(await api("/documents", { method: "POST", headers: auth, body: noFile }), 400);
    expect(missing.errors).toEqual([{ in: "body", pointer: "/file", message: "no file part" }]);

    const extra = new FormData();
    extra.append("owner", "someone-else");
    extra.append("file", new File(["x"], "x.txt", { type: "text/plain" }));
    const unexpected = await expectProblem(
      await api("/documents", { method: "POST", headers: auth, body: extra }),
      400,
    );
    expect(unexpected.errors).toEqual([{ in: "body", pointer: "/owner", message: "unexpected field" }]);

    const empty = await expectProblem(await formUpload(auth, { bytes: "", type: "text/plain" }), 400);
    expect(empty.errors?.[0]).toMatchObject({ pointer: "/file", message: "the file is empty" });
  });

  it("answers 400 for a malformed multipart body", async () => {
    const { auth } = await signedIn();
    const res = await api("/documents", {
      method: "POST",
      headers: { ...auth, "content-type": "multipart/form-data; boundary=xyz" },
      body: '--xyz\r\nContent-Disposition: form-data; name="file"\r\n\r\nno closing boundary',
    });
    const problem = await expectProblem(res, 400);
    expect(problem.detail).toMatch(/^Malformed multipart body/);
  });
});

/** Posts a hand-written multipart/form-data body, as clients other than browsers may send it. */
function multipart(auth: Record<string, string>, body: string, contentType = "multipart/form-data; boundary=b") {
  return api("/documents", { method: "POST", headers: { ...auth, "content-type": contentType }, body });
}

describe("POST /documents (multipart, RFC 2046 and RFC 7578 as written)", () => {
  it("accepts transport padding after the boundaries", async () => {
    const { auth } = await signedIn();
    const doc = await created(
      multipart(
        auth,
        '--b \t\r\nContent-Disposition: form-data; name="title"\r\n\r\npadded\r\n--b\t\r\nContent-Disposition: form-data; name="file"; filename="p.txt"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--  \r\n',
      ),
    );
    expect(doc).toMatchObject({ title: "padded", contentType: "text/plain", sizeBytes: 5 });
  });

  it("takes a quoted boundary with special characters, and a folded part header", async () => {
    const { auth } = await signedIn();
    const boundary = "=_part (1) of 2?";
    const doc = await created(
      multipart(
        auth,
        `--${boundary}\r\nContent-Disposition: form-data;\r\n name="file"; filename="f.txt"\r\nContent-Type: text/plain\r\n\r\nfolded\r\n--${boundary}--`,
        `multipart/form-data; boundary="${boundary}"`,
      ),
    );
    expect(doc).toMatchObject({ title: "f.txt", sizeBytes: 6 });
  });

  it("treats a file part without Content-Type as text/plain (RFC 7578 §4.4) when it is text", async () => {
    const { auth } = await signedIn();
    const doc = await created(
      multipart(auth, '--b\r\nContent-Disposition: form-data; name="file"; filename="README"\r\n\r\nread me\r\n--b--'),
    );
    expect(doc).toMatchObject({ title: "README", contentType: "text/plain" });
  });

  it("reads filename* in a part, and a malformed one is never a 500", async () => {
    const { auth } = await signedIn();
    const named = await created(
      multipart(
        auth,
        `--b\r\nContent-Disposition: form-data; name="file"; filename="resume.txt"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt\r\nContent-Type: text/plain\r\n\r\ncv\r\n--b--`,
      ),
    );
    expect(named.title).toBe("résumé.txt");
    const fallback = await created(
      multipart(
        auth,
        `--b\r\nContent-Disposition: form-data; name="file"; filename="plain.txt"; filename*=UTF-8''%E0%A4%A.txt\r\nContent-Type: text/plain\r\n\r\ncv\r\n--b--`,
      ),
    );
    expect(fallback.title).toBe("plain.txt");
  });

  it("decodes fields in the charset a _charset_ field names, wherever it comes (RFC 7578 §4.6)", async () => {
    const { auth } = await signedIn();
    const bytes = (text: string) => Array.from(text, (c) => c.charCodeAt(0));
    const body = new Uint8Array([
      ...bytes('--b\r\nContent-Disposition: form-data; name="title"\r\n\r\nr'),
      0xe9,
      ...bytes("sum"),
      0xe9, // "résumé" in ISO-8859-1
      ...bytes(
        '\r\n--b\r\nContent-Disposition: form-data; name="file"; filename="f.txt"\r\nContent-Type: text/plain\r\n\r\nx',
      ),
      ...bytes('\r\n--b\r\nContent-Disposition: form-data; name="_charset_"\r\n\r\niso-8859-1\r\n--b--'),
    ]);
    const doc = await created(
      api("/documents", {
        method: "POST",
        headers: { ...auth, "content-type": "multipart/form-data; boundary=b" },
        body,
      }),
    );
    expect(doc.title).toBe("résumé");
  });

  it("answers 400 for multipart/form-data without a usable boundary, or a field in an unknown charset", async () => {
    const { auth } = await signedIn();
    const body = '--b\r\nContent-Disposition: form-data; name="file"; filename="f.txt"\r\n\r\nx\r\n--b--';
    for (const contentType of ["multipart/form-data", `multipart/form-data; boundary=${"b".repeat(71)}`]) {
      const problem = await expectProblem(await multipart(auth, body, contentType), 400);
      expect(problem.detail).toMatch(/boundary/);
    }
    const charset = await expectProblem(
      await multipart(
        auth,
        '--b\r\nContent-Disposition: form-data; name="title"\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\nt\r\n--b\r\nContent-Disposition: form-data; name="file"; filename="f.txt"\r\n\r\nx\r\n--b--',
      ),
      400,
    );
    expect(charset.detail).toMatch(/charset/);
  });
});

describe("a document's upload response", () => {
  it("is what GET returns", async () => {
    const { auth } = await signedIn();
    const doc = await created(rawUpload(auth, "hello", "text/plain", { title: "same" }));
    const again = (await (await api(`/documents/${doc.id}`, { headers: auth })).json()) as DocumentJson;
    expect(again.id).toBe(doc.id);
    expect(again.sha256).toBe(doc.sha256);
  });
});
