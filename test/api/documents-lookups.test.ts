import { describe, expect, it } from "vitest";
import { decodeEntities } from "../../src/documents/extract-text.ts";
import { signedIn } from "../auth-helpers.ts";
import { formUpload, keysIn, rawUpload } from "../document-helpers.ts";
import { api, expectProblem, testEnv } from "../helpers.ts";

const stackEnv = testEnv as unknown as Record<string, string>;

async function ownDocuments(auth: Record<string, string>, userId: string): Promise<unknown[]> {
  const res = await api(`/documents?owner=${userId}`, { headers: auth });
  return ((await res.json()) as { data: unknown[] }).data;
}

// OWASP API8: a key taken from a request and looked up in a plain object finds what the object
// inherits (`constructor`, `toString`, `__proto__`), which then passes an allowlist.
describe("keys from a request never find inherited properties", () => {
  it("a file named *.constructor, sent without a type, is a 415 rather than a type called Object", async () => {
    const { auth, user } = await signedIn();
    for (const name of ["notes.constructor", "notes.tostring", "notes.valueof", "notes.hasownproperty"]) {
      const form = await formUpload(auth, { bytes: "plain words", type: "application/octet-stream", name });
      expect((await expectProblem(form, 415)).type, name).toBe("/problems/unsupported_media_type");
      const raw = await rawUpload(auth, "plain words", "application/octet-stream", {
        headers: { "content-disposition": `attachment; filename="${name}"` },
      });
      expect((await expectProblem(raw, 415)).type, name).toBe("/problems/unsupported_media_type");
    }
    expect(await ownDocuments(auth, user.id)).toEqual([]);
  });

  it("an entity named like an Object property stays as written in extracted text", () => {
    expect(decodeEntities("&constructor; &toString; &__proto__; &hasOwnProperty; &amp;")).toBe(
      "&constructor; &toString; &__proto__; &hasOwnProperty; &",
    );
  });
});

// Text is served as charset=utf-8: all of it must be UTF-8 without NUL, not only the first
// bytes that are sniffed, and a refusal keeps nothing (no object, no row).
describe("text is checked to its last byte on every upload path", () => {
  const prefix = new TextEncoder().encode("a line of plain text\n".repeat(500));
  // Past the first 8 MiB part too, where the upload is an S3 multipart upload.
  const big = new Uint8Array(9 * 1024 * 1024).fill(0x61);

  it("refuses binary after the sniffed head in forms, inferred types and new versions, keeping nothing", async () => {
    const { auth, user } = await signedIn();
    const withTail = (head: Uint8Array, tail: number[]) => new Uint8Array([...head, ...tail]);
    const cases: [string, () => Promise<Response>][] = [
      [
        "form, declared",
        () => formUpload(auth, { bytes: withTail(prefix, [0x00]), type: "text/plain", name: "a.txt" }),
      ],
      ["form, no type", () => formUpload(auth, { bytes: withTail(prefix, [0xc3, 0x28]), type: "", name: "a.txt" })],
      [
        "octet-stream .md",
        () => formUpload(auth, { bytes: withTail(prefix, [0xff]), type: "application/octet-stream", name: "a.md" }),
      ],
      [
        "form part without Content-Type",
        () => {
          const head = new TextEncoder().encode(
            '--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n',
          );
          const tail = new TextEncoder().encode("\r\n--b--\r\n");
          return api("/documents", {
            method: "POST",
            headers: { ...auth, "content-type": "multipart/form-data; boundary=b" },
            body: new Uint8Array([...head, ...prefix, 0x00, ...tail]),
          });
        },
      ],
      [
        "raw past 8 MiB",
        () => rawUpload(auth, new Uint8Array([...big.subarray(0, 9 * 1024 * 1024 - 1), 0]), "text/csv"),
      ],
    ];
    for (const [name, send] of cases) {
      const problem = await expectProblem(await send(), 415);
      expect(problem.detail, name).toMatch(/not UTF-8 text/);
    }
    expect(await ownDocuments(auth, user.id)).toEqual([]);
    // A refused new version leaves the document's objects as they were.
    const doc = await rawUpload(auth, "kept", "text/plain");
    expect(doc.status).toBe(201);
    const { id } = (await doc.json()) as { id: string };
    const version = await formUpload(
      auth,
      { bytes: withTail(prefix, [0xe2, 0x82]), type: "text/markdown", name: "v2.md" },
      {},
      `/documents/${id}/versions`,
    );
    expect((await expectProblem(version, 415)).detail).toMatch(/not UTF-8 text/);
    expect(await keysIn(stackEnv, `documents/${id}/`)).toHaveLength(1);
  });
});
