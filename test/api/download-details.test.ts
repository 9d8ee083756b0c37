import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { MAX_IMAGE_BYTES } from "../../src/documents/convert.ts";
import { signedIn } from "../auth-helpers.ts";
import { bodyBytes, created, formUpload, processed, rawUpload } from "../document-helpers.ts";
import { png } from "../fixtures/files.ts";
import { api, apiWith, asSystem, expectProblem, testEnv } from "../helpers.ts";

/** A PNG whose header (IHDR) says `width`×`height`: what is read before deciding to decode. */
function pngClaiming(width: number, height: number): Uint8Array {
  const bytes = png(40, 20).slice();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Signature (8), chunk length (4), "IHDR" (4), then width and height, big-endian.
  view.setUint32(16, width);
  view.setUint32(20, height);
  return bytes;
}

describe("downloads carry their length", () => {
  it("sends Content-Length with 200, 206, the thumbnail and converted content", async () => {
    const { auth } = await signedIn();
    const image = png(300, 200);
    const doc = await processed(
      auth,
      (await created(formUpload(auth, { bytes: image, type: "image/png", name: "p.png" }))).id,
    );
    const whole = await api(`/documents/${doc.id}/content`, { headers: auth });
    expect(whole.status).toBe(200);
    expect(whole.headers.get("content-length")).toBe(String(image.byteLength));
    expect((await bodyBytes(whole)).byteLength).toBe(image.byteLength);

    const part = await api(`/documents/${doc.id}/content`, { headers: { ...auth, range: "bytes=10-109" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-length")).toBe("100");
    expect(await bodyBytes(part)).toEqual(image.slice(10, 110));

    const thumbnail = await api(`/documents/${doc.id}/thumbnail`, { headers: auth });
    expect(thumbnail.status).toBe(200);
    const length = thumbnail.headers.get("content-length");
    expect(length).toBe(String((await bodyBytes(thumbnail)).byteLength));

    const webp = await api(`/documents/${doc.id}/content?format=webp`, { headers: auth });
    expect(webp.status).toBe(200);
    expect(webp.headers.get("content-length")).toBe(String((await bodyBytes(webp)).byteLength));

    const md = await processed(auth, (await created(rawUpload(auth, "# Hi", "text/markdown", { title: "m" }))).id);
    const html = await api(`/documents/${md.id}/content?format=html`, { headers: auth });
    expect(html.status).toBe(200);
    expect(html.headers.get("content-length")).toBe(String((await bodyBytes(html)).byteLength));
  });
});

/**
 * The headers with which workerd sends `body` over HTTP (to the test stack's webhook receiver):
 * `content-length` when the stream's length is known to the runtime, else `transfer-encoding:
 * chunked`. workerd decides a response's framing the same way, whatever headers it was given.
 */
async function framingOf(body: ReadableStream<Uint8Array> | null): Promise<Record<string, string>> {
  const hook = `${testEnv.CONTROL_URL}/hooks/length-${crypto.randomUUID()}`;
  const sent = await fetch(hook, { method: "POST", body, duplex: "half" } as RequestInit);
  expect(sent.status).toBe(204);
  const [received] = (await (await fetch(hook)).json()) as { headers: Record<string, string> }[];
  const { "content-length": length, "transfer-encoding": encoding } = received?.headers ?? {};
  return {
    ...(length === undefined ? {} : { "content-length": length }),
    ...(encoding ? { "transfer-encoding": encoding } : {}),
  };
}

describe("downloads leave over HTTP with their length", () => {
  it("a 200, a 206 and a thumbnail are streams of known length, not chunked", async () => {
    const { auth } = await signedIn();
    const image = png(300, 200);
    const doc = await processed(
      auth,
      (await created(formUpload(auth, { bytes: image, type: "image/png", name: "p.png" }))).id,
    );
    for (const init of [
      { headers: auth, length: image.byteLength },
      { headers: { ...auth, range: "bytes=5-54" }, length: 50 },
    ]) {
      for (const call of [api, (path: string, request: RequestInit) => apiWith({}, path, request)]) {
        const res = await call(`/documents/${doc.id}/content`, { headers: init.headers });
        expect(await framingOf(res.body)).toEqual({ "content-length": String(init.length) });
      }
    }
    const thumbnail = await api(`/documents/${doc.id}/thumbnail`, { headers: auth });
    const length = thumbnail.headers.get("content-length");
    expect(await framingOf(thumbnail.body)).toEqual({ "content-length": length });
  });
});

describe("conversion limits are 422, not 413 (the request has no body, RFC 9110 §15.5.14)", () => {
  it("refuses an image above the pixel limit with 422 unprocessable_content", async () => {
    const { auth } = await signedIn();
    const doc = await created(formUpload(auth, { bytes: pngClaiming(5000, 5000), type: "image/png", name: "big.png" }));
    await processed(auth, doc.id);
    const problem = await expectProblem(await api(`/documents/${doc.id}/content?format=webp`, { headers: auth }), 422);
    expect(problem.type).toBe("/problems/unprocessable_content");
    expect(problem.detail).toContain("5000×5000");
  });

  it("refuses an image that cannot be decoded with 422, in its own words, not the decoder's", async () => {
    const { auth } = await signedIn();
    // A real PNG's signature and header, then nothing of its image data.
    const doc = await created(
      formUpload(auth, { bytes: png(40, 20).slice(0, 40), type: "image/png", name: "cut.png" }),
    );
    await processed(auth, doc.id);
    const problem = await expectProblem(await api(`/documents/${doc.id}/content?format=webp`, { headers: auth }), 422);
    expect(problem.detail).toBe("The image could not be decoded: it is damaged or not what it claims to be.");
  });

  it("refuses a file above the conversion's byte limit with 422 unprocessable_content", async () => {
    const { auth } = await signedIn();
    const doc = await created(formUpload(auth, { bytes: png(40, 20), type: "image/png", name: "p.png" }));
    await processed(auth, doc.id);
    // Recorded as larger than conversion takes, so that no 24 MiB upload is needed.
    await asSystem((tx) =>
      tx.execute(sql`update document_versions set size_bytes = ${MAX_IMAGE_BYTES + 1} where document_id = ${doc.id}`),
    );
    const problem = await expectProblem(await api(`/documents/${doc.id}/content?format=png`, { headers: auth }), 422);
    expect(problem.type).toBe("/problems/unprocessable_content");
  });

  it("documents 422 and no 413 for GET /documents/{id}/content", async () => {
    const document = (await (await api("/openapi.json")).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    const responses = Object.keys(document.paths["/documents/{id}/content"]?.get?.responses ?? {});
    expect(responses).toContain("422");
    expect(responses).not.toContain("413");
  });
});

describe("download names", () => {
  const disposition = async (auth: Record<string, string>, sentName: string, title = "Report") => {
    const doc = await processed(
      auth,
      (
        await created(
          rawUpload(auth, "hello", "text/plain", {
            title,
            headers: { "content-disposition": `attachment; filename*=UTF-8''${sentName}` },
          }),
        )
      ).id,
    );
    const res = await api(`/documents/${doc.id}/content`, { headers: auth });
    await res.body?.cancel();
    return res.headers.get("content-disposition");
  };

  it("drop bidirectional overrides, control characters and dot-only names in filename and filename*", async () => {
    const { auth } = await signedIn();
    // U+202E: "\u202Etxt.exe" would show as "exe.txt".
    expect(await disposition(auth, "%E2%80%AEtxt.exe")).toBe(
      `attachment; filename="txt.exe"; filename*=UTF-8''txt.exe`,
    );
    expect(await disposition(auth, "a%0D%0Ab%09c%7Fd%C2%85.txt")).toBe(
      `attachment; filename="abcd.txt"; filename*=UTF-8''abcd.txt`,
    );
    expect(await disposition(auth, "..")).toBe(`attachment; filename="Report.txt"; filename*=UTF-8''Report.txt`);
    expect(await disposition(auth, "%C3%A9t%C3%A9.txt")).toBe(
      `attachment; filename="_t_.txt"; filename*=UTF-8''%C3%A9t%C3%A9.txt`,
    );
  });
});

describe("integer parameters are decimal digits", () => {
  it("refuses 1e3, 0x10, +5, ' 5', 5.0 for version and limit, naming the parameter", async () => {
    const { auth } = await signedIn();
    const doc = await created(rawUpload(auth, "hello", "text/plain", { title: "n" }));
    for (const value of ["1e3", "1e0", "0x10", "+5", " 5", "5 ", "5.0", "-1", ""]) {
      const encoded = encodeURIComponent(value);
      const content = await expectProblem(
        await api(`/documents/${doc.id}/content?version=${encoded}`, { headers: auth }),
        400,
      );
      expect(
        content.errors?.map((error) => [error.in, error.pointer]),
        value,
      ).toEqual([["query", "/version"]]);
      const list = await expectProblem(await api(`/documents?limit=${encoded}`, { headers: auth }), 400);
      expect(
        list.errors?.map((error) => [error.in, error.pointer]),
        value,
      ).toEqual([["query", "/limit"]]);
      const suggest = await expectProblem(await api(`/search/suggest?q=he&limit=${encoded}`, { headers: auth }), 400);
      expect(
        suggest.errors?.map((error) => [error.in, error.pointer]),
        value,
      ).toEqual([["query", "/limit"]]);
    }
    for (const value of ["1e0", "0x1", "+1", "1.0"]) {
      const restore = await expectProblem(
        await api(`/documents/${doc.id}/versions/${encodeURIComponent(value)}/restore`, {
          method: "POST",
          headers: auth,
        }),
        400,
      );
      expect(
        restore.errors?.map((error) => [error.in, error.pointer]),
        value,
      ).toEqual([["path", "/version"]]);
    }
    // Plain digits still work, leading zeros included.
    expect((await api(`/documents/${doc.id}/content?version=01`, { headers: auth })).status).not.toBe(400);
    expect((await api("/documents?limit=005", { headers: auth })).status).toBe(200);
  });

  it("are documented as integers with their bounds", async () => {
    const document = (await (await api("/openapi.json")).json()) as {
      paths: Record<string, Record<string, { parameters?: { name: string; in: string; schema: unknown }[] }>>;
    };
    const parameter = (path: string, method: string, name: string) =>
      document.paths[path]?.[method]?.parameters?.find((p) => p.name === name)?.schema;
    expect(parameter("/documents/{id}/content", "get", "version")).toMatchObject({ type: "integer", minimum: 1 });
    expect(parameter("/documents/{id}/versions/{version}/restore", "post", "version")).toMatchObject({
      type: "integer",
      minimum: 1,
      maximum: 2147483647,
    });
    expect(parameter("/documents", "get", "limit")).toMatchObject({ type: "integer", minimum: 1, maximum: 100 });
    expect(parameter("/search/suggest", "get", "limit")).toMatchObject({ type: "integer", minimum: 1, maximum: 20 });
  });
});
