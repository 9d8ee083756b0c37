import { like } from "drizzle-orm";
import { afterEach, describe, expect, it, vi } from "vitest";
import { uploadIntents } from "../../src/db/schema/documents.ts";
import { signedIn } from "../auth-helpers.ts";
import { created, formUpload, keysIn, rawUpload, type VersionJson } from "../document-helpers.ts";
import { api, apiWith, asSystem, captureLines, expectProblem, testEnv } from "../helpers.ts";

const stackEnv = testEnv as unknown as Record<string, string>;
const encoder = new TextEncoder();

afterEach(() => vi.restoreAllMocks());

/** A multipart body written by hand, as a non-browser client (Go's mime/multipart) sends it. */
function multipart(parts: { disposition: string; type?: string; body: string }[]): RequestInit {
  const text = parts
    .map(
      (part) =>
        `--b\r\nContent-Disposition: ${part.disposition}\r\n${part.type ? `Content-Type: ${part.type}\r\n` : ""}\r\n${part.body}\r\n`,
    )
    .join("");
  return {
    method: "POST",
    headers: { "content-type": "multipart/form-data; boundary=b" },
    body: `${text}--b--\r\n`,
  };
}

async function filenameOf(auth: Record<string, string>, id: string): Promise<string | null> {
  const res = await api(`/documents/${id}/versions`, { headers: auth });
  const { data } = (await res.json()) as { data: VersionJson[] };
  return data[0]?.filename ?? null;
}

describe("quoted-pairs in a multipart filename", () => {
  it('keeps a quote sent as \\" (RFC 9110 §5.6.4), as it keeps one sent as %22 by browsers', async () => {
    const { auth } = await signedIn();
    for (const sent of ['a\\"b.txt', "a%22b.txt"]) {
      const init = multipart([
        { disposition: `form-data; name="file"; filename="${sent}"`, type: "text/plain", body: "hello" },
      ]);
      const doc = await created(api("/documents", { ...init, headers: { ...auth, ...init.headers } }));
      expect(doc.title, sent).toBe('a"b.txt');
      expect(await filenameOf(auth, doc.id)).toBe('a"b.txt');
    }
  });

  it("reads \\\\ as one backslash, which the path rule (RFC 7578 §4.2) then reads as a directory separator", async () => {
    const { auth } = await signedIn();
    const init = multipart([
      { disposition: 'form-data; name="file"; filename="a\\\\b.txt"', type: "text/plain", body: "hello" },
    ]);
    const doc = await created(api("/documents", { ...init, headers: { ...auth, ...init.headers } }));
    expect(doc.title).toBe("b.txt");
    expect(await filenameOf(auth, doc.id)).toBe("b.txt");
  });
});

describe("a single-valued field sent twice", () => {
  const file = { bytes: "hello", type: "text/plain", name: "a.txt" };

  it("is a 400 naming the field in a form: title, file, _charset_", async () => {
    const { auth } = await signedIn();
    const twice = (build: (form: FormData) => void) => {
      const form = new FormData();
      build(form);
      return api("/documents", { method: "POST", headers: auth, body: form });
    };
    const title = await expectProblem(
      await twice((form) => {
        form.append("title", "A");
        form.append("title", "B");
        form.append("file", new File(["hello"], "a.txt", { type: "text/plain" }));
      }),
      400,
    );
    expect(title.errors).toEqual([{ in: "body", pointer: "/title", message: "sent more than once" }]);
    const files = await expectProblem(
      await twice((form) => {
        form.append("file", new File(["hello"], "a.txt", { type: "text/plain" }));
        form.append("file", new File(["again"], "b.txt", { type: "text/plain" }));
      }),
      400,
    );
    expect(files.errors).toEqual([{ in: "body", pointer: "/file", message: "sent more than once" }]);
    const charset = await expectProblem(
      await twice((form) => {
        form.append("_charset_", "utf-8");
        form.append("_charset_", "iso-8859-1");
        form.append("file", new File(["hello"], "a.txt", { type: "text/plain" }));
      }),
      400,
    );
    expect(charset.errors).toEqual([{ in: "body", pointer: "/_charset_", message: "sent more than once" }]);
  });

  it("keeps repeated tags in a form: that is how forms send a list", async () => {
    const { auth } = await signedIn();
    const doc = await created(formUpload(auth, file, { title: "T", tags: ["a", "b,c"] }));
    expect(doc.tags).toEqual(["a", "b", "c"]);
  });

  it("is a 400 naming the parameter in a raw upload's query", async () => {
    const { auth } = await signedIn();
    for (const [query, name] of [
      ["title=A&title=B", "title"],
      ["tags=a&tags=b", "tags"],
    ] as const) {
      const res = await api(`/documents?${query}`, {
        method: "POST",
        headers: { ...auth, "content-type": "text/plain" },
        body: "hello",
      });
      const problem = await expectProblem(res, 400);
      expect(problem.errors?.map((error) => [error.in, error.pointer])).toEqual([["query", `/${name}`]]);
    }
  });
});

/** Upload intents still recorded under a key prefix. */
const intentsUnder = (prefix: string) =>
  asSystem((tx) =>
    tx
      .select({ key: uploadIntents.storageKey })
      .from(uploadIntents)
      .where(like(uploadIntents.storageKey, `${prefix}%`)),
  );

/** A body that sends `head`, then `chunks` chunks of text, then errors: a client that goes away. */
function brokenBody(head: string, chunks: number): ReadableStream<Uint8Array> {
  const chunk = encoder.encode("a line of a long report\n".repeat(2731)); // 64 KiB
  let sent = -1;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent === -1) controller.enqueue(encoder.encode(head));
      else if (sent < chunks) controller.enqueue(chunk);
      else controller.error(new Error("the client went away"));
      sent += 1;
    },
  });
}

const FORM_HEAD =
  '--b\r\nContent-Disposition: form-data; name="file"; filename="report.txt"\r\nContent-Type: text/plain\r\n\r\n';

describe("a client that aborts mid-upload", () => {
  // Small (one PUT) and past one 8 MiB part (an S3 multipart upload, aborted).
  const cases = [
    { form: true, chunks: 3 },
    { form: false, chunks: 3 },
    { form: true, chunks: 140 },
    { form: false, chunks: 140 },
  ];

  async function abortedUpload(path: string, form: boolean, chunks: number, auth: Record<string, string>) {
    let res: Response | undefined;
    const lines = await captureLines(async () => {
      res = await apiWith({ LOG_LEVEL: "info" }, path, {
        method: "POST",
        headers: { ...auth, "content-type": form ? "multipart/form-data; boundary=b" : "text/plain" },
        body: brokenBody(form ? FORM_HEAD : "", chunks),
        duplex: "half",
      } as RequestInit);
    });
    if (!res) throw new Error("no response");
    const problem = await expectProblem(res, 400);
    expect(problem.type).toBe("/problems/bad_request");
    expect(problem.detail).toBe("The request body ended before it was complete.");
    // A warning, never an error: the request line says 400 at info, nothing "unhandled".
    expect(lines.filter((line) => line.level === "error")).toEqual([]);
    expect(lines.find((line) => line.message === "request")).toMatchObject({ level: "info", status: 400 });
    const warning = lines.find((line) => line.message === "upload abandoned: the request body broke off");
    expect(warning).toMatchObject({ level: "warn" });
    return String(warning?.key);
  }

  it("is a 400 logged as a warning on POST /documents, leaving no object and no intent", async () => {
    const { auth } = await signedIn();
    for (const { form, chunks } of cases) {
      const key = await abortedUpload("/documents", form, chunks, auth);
      expect(key, `form ${form}, ${chunks} chunks`).toMatch(/^documents\/[0-9a-f-]{36}\/[0-9a-f-]{36}$/);
      expect(await keysIn(stackEnv, key)).toEqual([]);
      expect(await intentsUnder(key)).toEqual([]);
    }
  });

  it("is a 400 logged as a warning on POST /documents/{id}/versions, leaving the document as it was", async () => {
    const { auth } = await signedIn();
    const doc = await created(rawUpload(auth, "first", "text/plain", { title: "kept" }));
    const [first] = await keysIn(stackEnv, `documents/${doc.id}/`);
    for (const { form, chunks } of cases) {
      const key = await abortedUpload(`/documents/${doc.id}/versions`, form, chunks, auth);
      expect(key.startsWith(`documents/${doc.id}/`)).toBe(true);
      expect(await keysIn(stackEnv, `documents/${doc.id}/`)).toEqual([first]);
      expect(await intentsUnder(`documents/${doc.id}/`)).toEqual([]);
    }
    const after = (await (await api(`/documents/${doc.id}`, { headers: auth })).json()) as { currentVersion: number };
    expect(after.currentVersion).toBe(1);
  });
});
