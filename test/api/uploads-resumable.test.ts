import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  ListPartsCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { asActor } from "../../src/db/actor.ts";
import { openDatabase } from "../../src/db/client.ts";
import { uploadParts, uploads } from "../../src/db/schema/uploads.ts";
import { loadApiConfig } from "../../src/pkg/config/config.ts";
import { signedIn } from "../auth-helpers.ts";
import { bodyBytes, type DocumentJson, keysIn, processed } from "../document-helpers.ts";
import { pdf, sha256Hex } from "../fixtures/files.ts";
import { api, apiWith, asSystem, expectProblem, testEnv } from "../helpers.ts";

const stackEnv = testEnv as unknown as Record<string, string>;

/** The server's part size (src/documents/resumable.ts, RESUMABLE_PART_BYTES). */
const PART = 5 * 1024 * 1024;

type Auth = Record<string, string>;

interface UploadJson {
  id: string;
  status: string;
  partBytes: number;
  partCount: number;
  partUrlTemplate: string;
  filename: string | null;
  contentType: string;
  documentId: string | null;
  expiresAt: string;
  parts: { partNumber: number; sizeBytes: number; sha256: string }[];
}

/** Text of `size` bytes: lines of ASCII letters, with `inserts` (UTF-8 bytes) placed at given offsets. */
function textBytes(size: number, inserts: [offset: number, bytes: number[]][] = []): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 1) bytes[i] = i % 64 === 63 ? 0x0a : 0x61 + (i % 26);
  for (const [offset, inserted] of inserts) bytes.set(inserted, offset);
  return bytes;
}

/** A euro sign (U+20AC, 3 bytes in UTF-8). */
const EURO = [0xe2, 0x82, 0xac];

const json = (auth: Auth) => ({ ...auth, "content-type": "application/json" });

async function start(
  auth: Auth,
  file: { bytes: Uint8Array; type?: string; name?: string; sha256?: string },
  via: (path: string, init: RequestInit) => Promise<Response> = api,
): Promise<Response> {
  return via("/uploads", {
    method: "POST",
    headers: json(auth),
    body: JSON.stringify({
      filename: file.name ?? "big.txt",
      contentType: file.type ?? "text/plain",
      size: file.bytes.length,
      sha256: file.sha256 ?? (await sha256Hex(file.bytes)),
      title: "resumable",
      tags: ["big"],
    }),
  });
}

async function started(response: Promise<Response>): Promise<UploadJson> {
  const res = await response;
  if (res.status !== 201) throw new Error(`POST /uploads: ${res.status} ${await res.text()}`);
  expect(res.headers.get("location")).toMatch(/^\/uploads\/[0-9a-f-]{36}$/);
  return (await res.json()) as UploadJson;
}

const partOf = (bytes: Uint8Array, n: number) => bytes.subarray((n - 1) * PART, Math.min(bytes.length, n * PART));

function sendPart(auth: Auth, id: string, n: number, body: Uint8Array, headers: Record<string, string> = {}) {
  return api(`/uploads/${id}/parts/${n}`, {
    method: "PUT",
    headers: { ...auth, "content-type": "application/octet-stream", ...headers },
    body,
  });
}

async function sent(response: Promise<Response>) {
  const res = await response;
  if (res.status !== 200) throw new Error(`PUT part: ${res.status} ${await res.text()}`);
  return (await res.json()) as { partNumber: number; sizeBytes: number; sha256: string };
}

const readUpload = (auth: Auth, id: string) => api(`/uploads/${id}`, { headers: auth });
const complete = (auth: Auth, id: string, via = api) =>
  via(`/uploads/${id}/complete`, { method: "POST", headers: auth });

async function uploadState(auth: Auth, id: string): Promise<UploadJson> {
  const res = await readUpload(auth, id);
  expect(res.status).toBe(200);
  return (await res.json()) as UploadJson;
}

/** The upload's row as the system sees it (its key and the store's UploadId). */
const rowOf = (id: string) => asSystem(async (tx) => (await tx.select().from(uploads).where(eq(uploads.id, id)))[0]);

/** An upload started with `bytes` and its part 1 (`first`) stored; the upload and its row as the system sees it. */
async function startedWithPartOne(auth: Auth, bytes: Uint8Array, first: Uint8Array = bytes) {
  const upload = await started(start(auth, { bytes }));
  await sent(sendPart(auth, upload.id, 1, first));
  const row = await rowOf(upload.id);
  if (!row) throw new Error("no upload row");
  return { upload, row };
}

/** A client of the stack's S3, to act on an upload behind the API's back. */
const s3 = new S3Client({
  region: stackEnv.S3_REGION ?? "us-east-1",
  endpoint: stackEnv.S3_ENDPOINT,
  forcePathStyle: true,
  credentials: { accessKeyId: stackEnv.S3_ACCESS_KEY_ID ?? "", secretAccessKey: stackEnv.S3_SECRET_ACCESS_KEY ?? "" },
});

/** ListParts on the stack's S3: the part numbers it holds, or "NoSuchUpload". */
async function partsInStore(key: string, uploadId: string): Promise<number[] | "NoSuchUpload"> {
  const client = s3;
  try {
    const listed = await client.send(
      new ListPartsCommand({ Bucket: stackEnv.S3_BUCKET, Key: key, UploadId: uploadId }),
    );
    return (listed.Parts ?? []).map((part) => part.PartNumber ?? 0);
  } catch (error) {
    if (error instanceof Error && error.name === "NoSuchUpload") return "NoSuchUpload";
    throw error;
  }
}

const base64 = (hex: string) =>
  btoa(String.fromCharCode(...(hex.match(/../g) ?? []).map((h) => Number.parseInt(h, 16))));

describe("resumable uploads: the whole way", () => {
  it("parts in any order, a character cut between parts, then one document that ends ready", async () => {
    const { auth } = await signedIn();
    // A euro sign cut after its first byte by the part boundary.
    const bytes = textBytes(PART + 3000, [[PART - 1, EURO]]);
    const upload = await started(start(auth, { bytes }));
    expect(upload).toMatchObject({ status: "open", partBytes: PART, partCount: 2, documentId: null, parts: [] });
    expect(upload.partUrlTemplate).toBe(`/uploads/${upload.id}/parts/{partNumber}`);

    const second = await sent(sendPart(auth, upload.id, 2, partOf(bytes, 2)));
    expect(second).toEqual({ partNumber: 2, sizeBytes: 3000, sha256: await sha256Hex(partOf(bytes, 2)) });
    const digest = base64(await sha256Hex(partOf(bytes, 1)));
    await sent(sendPart(auth, upload.id, 1, partOf(bytes, 1), { "content-digest": `sha-256=:${digest}:` }));
    expect((await uploadState(auth, upload.id)).parts.map((part) => [part.partNumber, part.sizeBytes])).toEqual([
      [1, PART],
      [2, 3000],
    ]);

    const done = await complete(auth, upload.id);
    expect(done.status).toBe(201);
    const completed = (await done.json()) as UploadJson;
    expect(completed).toMatchObject({ status: "completed", documentId: expect.any(String) });
    const documentId = completed.documentId ?? "";
    expect(done.headers.get("location")).toBe(`/documents/${documentId}`);

    const doc: DocumentJson = await processed(auth, documentId);
    expect(doc).toMatchObject({
      status: "ready",
      title: "resumable",
      tags: ["big"],
      contentType: "text/plain",
      sizeBytes: bytes.length,
      sha256: await sha256Hex(bytes),
    });
    const content = await api(`/documents/${documentId}/content`, { headers: auth });
    expect(content.status).toBe(200);
    expect(await sha256Hex(await bodyBytes(content))).toBe(await sha256Hex(bytes));

    // The client lost the answer and completes again: the same document, not a second one.
    const again = await complete(auth, upload.id);
    expect(again.status).toBe(200);
    expect(((await again.json()) as UploadJson).documentId).toBe(documentId);
    expect(await keysIn(stackEnv, `documents/${documentId}/`)).toHaveLength(1);
    // Completed: it takes no more parts.
    await expectProblem(await sendPart(auth, upload.id, 2, partOf(bytes, 2)), 409);
  });

  it("two completions at once make one document: the other is a 409 or the same document", async () => {
    const { auth } = await signedIn();
    const bytes = textBytes(4000);
    const upload = await started(start(auth, { bytes }));
    await sent(sendPart(auth, upload.id, 1, bytes));
    const answers = await Promise.all([complete(auth, upload.id), complete(auth, upload.id)]);
    const statuses = answers.map((res) => res.status).sort();
    expect([
      [201, 409],
      [200, 201],
    ]).toContainEqual(statuses);
    const row = await rowOf(upload.id);
    expect(row?.status).toBe("completed");
    expect(await keysIn(stackEnv, `documents/${row?.documentId}/`)).toHaveLength(1);
    const again = await complete(auth, upload.id);
    expect(again.status).toBe(200);
  });

  it("a declared SHA-256 that the file does not have: the version fails in processing", async () => {
    const { auth } = await signedIn();
    const bytes = textBytes(5000);
    const upload = await started(start(auth, { bytes, sha256: "0".repeat(64) }));
    await sent(sendPart(auth, upload.id, 1, bytes));
    const done = await complete(auth, upload.id);
    expect(done.status).toBe(201);
    const { documentId } = (await done.json()) as UploadJson;
    expect(await processed(auth, documentId ?? "")).toMatchObject({ status: "failed" });
  });
});

describe("GET /uploads: the caller's unfinished uploads", () => {
  interface Summary {
    id: string;
    status: string;
    partCount: number;
    partsReceived: number;
    bytesReceived: number;
    parts?: unknown;
  }
  const list = async (auth: Auth, query = "") => {
    const res = await api(`/uploads${query}`, { headers: auth });
    expect(res.status).toBe(200);
    return (await res.json()) as { data: Summary[]; nextCursor: string | null };
  };

  it("lists open uploads newest first with what arrived, paginated; not completed, aborted or others' ones", async () => {
    const { auth } = await signedIn();
    const { auth: stranger } = await signedIn();
    const small = textBytes(1000);
    const big = textBytes(PART + 10);
    const finished = await started(start(auth, { bytes: small }));
    await sent(sendPart(auth, finished.id, 1, small));
    expect((await complete(auth, finished.id)).status).toBe(201);
    const aborted = await started(start(auth, { bytes: small }));
    expect((await api(`/uploads/${aborted.id}`, { method: "DELETE", headers: auth })).status).toBe(204);
    const older = await started(start(auth, { bytes: big }));
    await sent(sendPart(auth, older.id, 2, partOf(big, 2)));
    const newer = await started(start(auth, { bytes: small }));
    await started(start(stranger, { bytes: small }));

    const all = await list(auth);
    expect(all.data.map((upload) => upload.id)).toEqual([newer.id, older.id]);
    expect(all.data[1]).toMatchObject({ status: "open", partCount: 2, partsReceived: 1, bytesReceived: 10 });
    expect(all.data[0]).toMatchObject({ partsReceived: 0, bytesReceived: 0 });
    expect(all.data[0]?.parts).toBeUndefined();
    expect(all.nextCursor).toBeNull();

    const first = await list(auth, "?limit=1");
    expect(first.data.map((upload) => upload.id)).toEqual([newer.id]);
    const second = await list(auth, `?limit=1&cursor=${encodeURIComponent(first.nextCursor ?? "")}`);
    expect(second.data.map((upload) => upload.id)).toEqual([older.id]);
    expect(second.nextCursor).toBeNull();

    await expectProblem(await api("/uploads?limit=0", { headers: auth }), 400);
    await expectProblem(await api("/uploads"), 401);
  });
});

describe("resumable uploads: every part is checked before it is recorded", () => {
  it("a part of the wrong size: fewer bytes 400 naming both sizes, more 413", async () => {
    const { auth } = await signedIn();
    const bytes = textBytes(PART + 100);
    const upload = await started(start(auth, { bytes }));

    const short = await expectProblem(await sendPart(auth, upload.id, 1, bytes.subarray(0, PART - 1)), 400);
    expect(short.detail).toContain(`${PART} bytes`);
    expect(short.detail).toContain(`${PART - 1}`);
    const shortLast = await expectProblem(await sendPart(auth, upload.id, 2, bytes.subarray(0, 99)), 400);
    expect(shortLast.detail).toContain("100 bytes");

    await expectProblem(await sendPart(auth, upload.id, 1, textBytes(PART + 1)), 413);
    // Without Content-Length: refused as the stream passes the size.
    const stream = new Blob([textBytes(PART), textBytes(PART)]).stream();
    const streamed = await api(`/uploads/${upload.id}/parts/1`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/octet-stream" },
      body: stream,
      duplex: "half",
    } as RequestInit);
    await expectProblem(streamed, 413);
    await expectProblem(await sendPart(auth, upload.id, 2, textBytes(101)), 413);

    // A number past the last part, or none at all.
    const past = await expectProblem(await sendPart(auth, upload.id, 3, bytes.subarray(0, 100)), 400);
    expect(past.detail).toContain("parts 1 to 2");
    await expectProblem(await sendPart(auth, upload.id, 0, bytes.subarray(0, 100)), 400);

    expect((await uploadState(auth, upload.id)).parts).toEqual([]);
  });

  it("Content-Digest: a mismatch or a malformed field is a 400, and nothing is recorded", async () => {
    const { auth } = await signedIn();
    const bytes = textBytes(2000);
    const upload = await started(start(auth, { bytes }));
    const wrong = base64(await sha256Hex(textBytes(1999)));
    const mismatch = await expectProblem(
      await sendPart(auth, upload.id, 1, bytes, { "content-digest": `sha-256=:${wrong}:` }),
      400,
    );
    expect(mismatch.errors?.[0]?.pointer).toBe("/content-digest");
    await expectProblem(await sendPart(auth, upload.id, 1, bytes, { "content-digest": "sha-256=nonsense" }), 400);
    expect((await uploadState(auth, upload.id)).parts).toEqual([]);
    // Another algorithm alone is ignored (RFC 9530 §3).
    await sent(sendPart(auth, upload.id, 1, bytes, { "content-digest": "md5=:AAAAAAAAAAAAAAAAAAAAAA==:" }));
  });

  it("part 1 must be what the declared type says; text must be UTF-8 without NUL", async () => {
    const { auth } = await signedIn();
    const text = textBytes(3000);
    const asPdf = await started(start(auth, { bytes: text, type: "application/pdf", name: "fake.pdf" }));
    await expectProblem(await sendPart(auth, asPdf.id, 1, text), 415);

    const file = pdf(["a real PDF"]);
    const realPdf = await started(start(auth, { bytes: file, type: "application/pdf", name: "real.pdf" }));
    await sent(sendPart(auth, realPdf.id, 1, file));

    const withNul = textBytes(3000, [[1500, [0]]]);
    const nul = await started(start(auth, { bytes: withNul }));
    await expectProblem(await sendPart(auth, nul.id, 1, withNul), 415);

    // A file cannot start inside a character, nor end inside one.
    const cutStart = textBytes(3000, [[0, [0x82, 0xac]]]);
    await expectProblem(await sendPart(auth, (await started(start(auth, { bytes: cutStart }))).id, 1, cutStart), 415);
    const cutEnd = textBytes(3000, [[2998, [0xe2, 0x82]]]);
    await expectProblem(await sendPart(auth, (await started(start(auth, { bytes: cutEnd }))).id, 1, cutEnd), 415);
  });

  it("parts whose cut characters do not join: 415 on completion, the upload open again for a corrected part", async () => {
    const { auth } = await signedIn();
    // Part 1 ends with the first two bytes of a euro sign; the part 2 first sent starts with a letter.
    const good = textBytes(PART + 500, [[PART - 2, EURO]]);
    const upload = await started(start(auth, { bytes: good }));
    await sent(sendPart(auth, upload.id, 1, partOf(good, 1)));
    const badSecond = textBytes(500);
    // Valid text on its own, so the part is recorded...
    await sent(sendPart(auth, upload.id, 2, badSecond));
    // ...but the join is not UTF-8.
    const refused = await expectProblem(await complete(auth, upload.id), 415);
    expect(refused.detail).toContain("parts 1 and 2");
    expect((await uploadState(auth, upload.id)).status).toBe("open");
    // The right part 2 replaces the wrong one; now it completes.
    await sent(sendPart(auth, upload.id, 2, partOf(good, 2)));
    expect((await complete(auth, upload.id)).status).toBe(201);
  });
});

describe("resumable uploads: cuts, missing parts, abort", () => {
  it("a part whose body breaks off is not recorded; the client lists what arrived, resends, completes", async () => {
    const { auth } = await signedIn();
    const bytes = textBytes(PART + 700);
    const upload = await started(start(auth, { bytes }));
    await sent(sendPart(auth, upload.id, 2, partOf(bytes, 2)));

    let sentBytes = 0;
    const cut = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sentBytes >= PART / 2) return controller.error(new Error("the connection dropped"));
        controller.enqueue(partOf(bytes, 1).subarray(sentBytes, sentBytes + 1024 * 1024));
        sentBytes += 1024 * 1024;
      },
    });
    const broken = await apiWith({}, `/uploads/${upload.id}/parts/1`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/octet-stream", "content-length": String(PART) },
      body: cut,
      duplex: "half",
    } as RequestInit);
    await expectProblem(broken, 400);

    // Completing now names what is missing, and leaves the upload open.
    const incomplete = await complete(auth, upload.id);
    const problem = (await expectProblem(incomplete, 409)) as unknown as { missingParts: number[] };
    expect(problem.missingParts).toEqual([1]);

    const state = await uploadState(auth, upload.id);
    expect(state.status).toBe("open");
    const have = new Set(state.parts.map((part) => part.partNumber));
    expect([...have]).toEqual([2]);
    for (let n = 1; n <= state.partCount; n += 1) {
      if (!have.has(n)) await sent(sendPart(auth, upload.id, n, partOf(bytes, n)));
    }
    const done = await complete(auth, upload.id);
    expect(done.status).toBe(201);
    const { documentId } = (await done.json()) as UploadJson;
    const doc = await processed(auth, documentId ?? "");
    expect(doc).toMatchObject({ status: "ready", sha256: await sha256Hex(bytes) });
  });

  it("abort: the store's parts are gone, the upload is 404 for parts, reads and completion", async () => {
    const { auth } = await signedIn();
    const bytes = textBytes(PART + 10);
    const { upload, row } = await startedWithPartOne(auth, bytes, partOf(bytes, 1));
    expect(await partsInStore(row.storageKey, row.multipartUploadId)).toEqual([1]);

    const aborted = await api(`/uploads/${upload.id}`, { method: "DELETE", headers: auth });
    expect(aborted.status).toBe(204);

    expect(await partsInStore(row.storageKey, row.multipartUploadId)).toBe("NoSuchUpload");
    expect(await keysIn(stackEnv, `documents/${row.documentId}/`)).toEqual([]);
    expect(await rowOf(upload.id)).toBeUndefined();
    await expectProblem(await sendPart(auth, upload.id, 2, partOf(bytes, 2)), 404);
    await expectProblem(await readUpload(auth, upload.id), 404);
    await expectProblem(await complete(auth, upload.id), 404);
    await expectProblem(await api(`/uploads/${upload.id}`, { method: "DELETE", headers: auth }), 404);
  });
});

describe("resumable uploads: limits and access", () => {
  it("the declared file is checked at creation: type 415, size 413, quota 403", async () => {
    const { auth } = await signedIn();
    const bytes = textBytes(1000);
    await expectProblem(await start(auth, { bytes, type: "application/x-msdownload" }), 415);
    await expectProblem(
      await start(auth, { bytes }, (path, init) => apiWith({ MAX_UPLOAD_BYTES: "999" }, path, init)),
      413,
    );
    const quota = await expectProblem(
      await start(auth, { bytes }, (path, init) => apiWith({ QUOTA_BYTES_PER_USER: "999" }, path, init)),
      403,
    );
    expect(quota.type).toBe("/problems/quota_exceeded");
    const invalid = await api("/uploads", {
      method: "POST",
      headers: json(auth),
      body: JSON.stringify({ contentType: "text/plain", size: 10, sha256: "not hex" }),
    });
    await expectProblem(invalid, 400);
  });

  it("unfinished uploads count against the quota: parts in flight cannot pass it", async () => {
    const { auth } = await signedIn();
    const quotas = (path: string, init: RequestInit) => apiWith({ QUOTA_BYTES_PER_USER: "2500" }, path, init);
    const first = await started(start(auth, { bytes: textBytes(2000) }, quotas));
    const second = await expectProblem(await start(auth, { bytes: textBytes(1000) }, quotas), 403);
    expect(second).toMatchObject({ type: "/problems/quota_exceeded", used: 2000, requested: 1000 });
    // Aborting the first frees its share.
    expect((await api(`/uploads/${first.id}`, { method: "DELETE", headers: auth })).status).toBe(204);
    await started(start(auth, { bytes: textBytes(1000) }, quotas));
  });

  it("the quota is checked again on completion, and a refusal leaves nothing stored", async () => {
    const { auth } = await signedIn();
    const bytes = textBytes(2000);
    const { upload, row } = await startedWithPartOne(auth, bytes);
    const refused = await expectProblem(
      await complete(auth, upload.id, (path, init) => apiWith({ QUOTA_BYTES_PER_USER: "1000" }, path, init)),
      403,
    );
    expect(refused.type).toBe("/problems/quota_exceeded");
    expect(await keysIn(stackEnv, `documents/${row?.documentId}/`)).toEqual([]);
    await expectProblem(await readUpload(auth, upload.id), 404);
  });

  it("row-level security: another user (even an admin) reads and changes no upload or part, whatever the query says", async () => {
    const owner = await signedIn();
    const other = await signedIn();
    const bytes = textBytes(1000);
    const upload = await started(start(owner.auth, { bytes }));
    await sent(sendPart(owner.auth, upload.id, 1, bytes));
    const handle = openDatabase(loadApiConfig(testEnv).database);
    const as = (userId: string, role: "user" | "admin") =>
      asActor(handle.db, { kind: "user", userId, role, permissions: [] }, async (tx) => ({
        uploads: await tx.select().from(uploads).where(eq(uploads.id, upload.id)),
        parts: await tx.select().from(uploadParts).where(eq(uploadParts.uploadId, upload.id)),
        changed: await tx
          .update(uploads)
          .set({ status: "completed" })
          .where(eq(uploads.id, upload.id))
          .returning({ id: uploads.id }),
      }));
    try {
      for (const role of ["user", "admin"] as const) {
        expect(await as(other.user.id, role)).toEqual({ uploads: [], parts: [], changed: [] });
      }
      const own = await asActor(
        handle.db,
        { kind: "user", userId: owner.user.id, role: "user", permissions: [] },
        (tx) => tx.select().from(uploadParts).where(eq(uploadParts.uploadId, upload.id)),
      );
      expect(own).toHaveLength(1);
    } finally {
      await handle.close();
    }
  });

  it("another user's upload is a 404 on every route", async () => {
    const owner = await signedIn();
    const other = await signedIn();
    const bytes = textBytes(1000);
    const upload = await started(start(owner.auth, { bytes }));
    await expectProblem(await readUpload(other.auth, upload.id), 404);
    await expectProblem(await sendPart(other.auth, upload.id, 1, bytes), 404);
    await expectProblem(await complete(other.auth, upload.id), 404);
    await expectProblem(await api(`/uploads/${upload.id}`, { method: "DELETE", headers: other.auth }), 404);
    // Still the owner's, untouched.
    await sent(sendPart(owner.auth, upload.id, 1, bytes));
    expect((await complete(owner.auth, upload.id)).status).toBe(201);
  });
});

describe("resumable uploads: one rule for text and filenames, as POST /documents", () => {
  it("a charset other than UTF-8 takes ASCII only; us-ascii is UTF-8; the filename loses its path", async () => {
    const { auth } = await signedIn();
    const ascii = textBytes(1000);
    const latin = await started(start(auth, { bytes: ascii, type: "text/plain; charset=iso-8859-1" }));
    // "é" in ISO-8859-1 (0xE9) would be misread as UTF-8: refused; ASCII means the same in both.
    await expectProblem(await sendPart(auth, latin.id, 1, textBytes(1000, [[10, [0xe9]]])), 415);
    await expectProblem(await sendPart(auth, latin.id, 1, textBytes(1000, [[10, [0xc3, 0xa9]]])), 415);
    await sent(sendPart(auth, latin.id, 1, ascii));
    const done = await complete(auth, latin.id);
    expect(done.status).toBe(201);
    const { documentId } = (await done.json()) as UploadJson;
    expect(await processed(auth, documentId ?? "")).toMatchObject({ status: "ready", contentType: "text/plain" });

    const named = await started(
      start(auth, { bytes: ascii, type: "text/plain; charset=US-ASCII", name: "C:\\Users\\me\\notes.txt" }),
    );
    expect(named.filename).toBe("notes.txt");
  });
});

describe("resumable uploads: the store and the database disagree", () => {
  /** The part ETags the upload's rows record, by number. */
  const recordedEtags = (id: string) =>
    asSystem((tx) => tx.select().from(uploadParts).where(eq(uploadParts.uploadId, id)));

  it("a completion whose answer was lost: the next one finds the assembled object and records the document", async () => {
    const { auth } = await signedIn();
    const bytes = textBytes(3000);
    const { upload, row } = await startedWithPartOne(auth, bytes);
    const [part] = await recordedEtags(upload.id);
    // As if an earlier completion's CompleteMultipartUpload succeeded after its deadline.
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: stackEnv.S3_BUCKET,
        Key: row.storageKey,
        UploadId: row.multipartUploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part?.etag }] },
      }),
    );
    const done = await complete(auth, upload.id);
    expect(done.status).toBe(201);
    const { documentId } = (await done.json()) as UploadJson;
    expect(await processed(auth, documentId ?? "")).toMatchObject({ status: "ready", sha256: await sha256Hex(bytes) });
  });

  it("the store discarded the upload: a part is a 409, completion a 409 to start again and the upload is gone", async () => {
    const { auth } = await signedIn();
    const bytes = textBytes(3000);
    const { upload, row } = await startedWithPartOne(auth, bytes);
    await s3.send(
      new AbortMultipartUploadCommand({
        Bucket: stackEnv.S3_BUCKET,
        Key: row.storageKey,
        UploadId: row.multipartUploadId,
      }),
    );
    await expectProblem(await sendPart(auth, upload.id, 1, bytes), 409);
    const refused = await expectProblem(await complete(auth, upload.id), 409);
    expect(refused.detail).toContain("Start a new upload");
    await expectProblem(await readUpload(auth, upload.id), 404);
    expect(await keysIn(stackEnv, `documents/${row.documentId}/`)).toEqual([]);
  });

  it("a part stored twice with different bytes: completion names it (409), and once sent again it completes", async () => {
    const { auth } = await signedIn();
    const bytes = textBytes(3000);
    const { upload, row } = await startedWithPartOne(auth, bytes);
    // The other PUT of part 1 reached the store last, but its row was written first.
    await s3.send(
      new UploadPartCommand({
        Bucket: stackEnv.S3_BUCKET,
        Key: row.storageKey,
        UploadId: row.multipartUploadId,
        PartNumber: 1,
        Body: textBytes(3000, [[5, [0x7a]]]),
      }),
    );
    const refused = (await expectProblem(await complete(auth, upload.id), 409)) as unknown as {
      missingParts: number[];
    };
    expect(refused.missingParts).toEqual([1]);
    expect(await uploadState(auth, upload.id)).toMatchObject({ status: "open", parts: [] });
    await sent(sendPart(auth, upload.id, 1, bytes));
    expect((await complete(auth, upload.id)).status).toBe(201);
  });

  it("an upload past its expiresAt takes no part, completion or abort (404): it is the sweeper's", async () => {
    const { auth } = await signedIn();
    const bytes = textBytes(2000);
    const upload = await started(start(auth, { bytes }));
    await sent(sendPart(auth, upload.id, 1, bytes));
    await asSystem((tx) =>
      tx.update(uploads).set({ expiresAt: sql`now() - interval '1 second'` }).where(eq(uploads.id, upload.id)),
    );
    await expectProblem(await sendPart(auth, upload.id, 1, bytes), 404);
    await expectProblem(await complete(auth, upload.id), 404);
    await expectProblem(await readUpload(auth, upload.id), 404);
    await expectProblem(await api(`/uploads/${upload.id}`, { method: "DELETE", headers: auth }), 404);
    expect(await rowOf(upload.id)).toMatchObject({ status: "open" });
  });
});
