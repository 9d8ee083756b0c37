import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { eq } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/client.ts";
import { documents } from "../../src/db/schema/documents.ts";
import { api, apiWith, eventually, expectProblem, outage, outageBindings, testEnv } from "../helpers.ts";

interface DocumentJson {
  id: string;
  title: string;
  contentType: string;
  sizeBytes: number;
  sha256: string;
  status: string;
  processedAt: string | null;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function upload(
  body: string | Uint8Array | ReadableStream<Uint8Array>,
  options: { title?: string; type?: string; headers?: Record<string, string> } = {},
) {
  const query = options.title === undefined ? "" : `?title=${encodeURIComponent(options.title)}`;
  // As a client's HTTP stack would; a Request built in-process does not add it for us.
  const length =
    typeof body === "string"
      ? new TextEncoder().encode(body).byteLength
      : body instanceof Uint8Array
        ? body.byteLength
        : undefined;
  return {
    path: `/documents${query}`,
    init: {
      method: "POST",
      body,
      headers: {
        "content-type": options.type ?? "text/plain",
        ...(length === undefined ? {} : { "content-length": String(length) }),
        ...options.headers,
      },
    } satisfies RequestInit,
  };
}

/** Keys in a bucket, listed with the production S3 client (an XML response, parsed inside workerd). */
async function keysIn(bindings: Record<string, string>, prefix: string): Promise<string[]> {
  const client = new S3Client({
    region: bindings.S3_REGION ?? "us-east-1",
    endpoint: bindings.S3_ENDPOINT,
    forcePathStyle: true,
    credentials: { accessKeyId: bindings.S3_ACCESS_KEY_ID ?? "", secretAccessKey: bindings.S3_SECRET_ACCESS_KEY ?? "" },
  });
  const listed = await client.send(new ListObjectsV2Command({ Bucket: bindings.S3_BUCKET, Prefix: prefix }));
  return (listed.Contents ?? []).flatMap((object) => (object.Key ? [object.Key] : []));
}

/** Rows with this title in the database the bindings point at, read with the production driver. */
async function rowsTitled(bindings: Record<string, string>, title: string): Promise<number> {
  const handle = openDatabase({ url: bindings.DATABASE_URL ?? "", localProxy: bindings.NEON_LOCAL_PROXY });
  try {
    return (await handle.db.select().from(documents).where(eq(documents.title, title))).length;
  } finally {
    await handle.close();
  }
}

describe("POST /documents", () => {
  it("streams the file to storage, records it, and the processor marks it ready through the queue", async () => {
    const bytes = new TextEncoder().encode("Quarterly numbers, all good.\n".repeat(1000));
    const { path, init } = upload(bytes, { title: "Q3 report" });
    const res = await api(path, init);
    expect(res.status).toBe(201);
    const created = (await res.json()) as DocumentJson;
    expect(res.headers.get("location")).toBe(`/documents/${created.id}`);
    expect(created).toMatchObject({
      title: "Q3 report",
      contentType: "text/plain",
      sizeBytes: bytes.byteLength,
      sha256: await sha256Hex(bytes),
      status: "pending",
    });
    expect(await keysIn(testEnv as unknown as Record<string, string>, `documents/${created.id}/`)).toEqual([
      `documents/${created.id}/v1`,
    ]);

    const ready = await eventually(async () => {
      const doc = (await (await api(`/documents/${created.id}`)).json()) as DocumentJson;
      return doc.status === "ready" ? doc : undefined;
    });
    expect(ready.processedAt).not.toBeNull();
  });

  it("streams a body of several megabytes sent in chunks", async () => {
    const chunk = new Uint8Array(64 * 1024).map((_, i) => i % 251);
    const chunks = 96; // 6 MiB
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < chunks; i++) controller.enqueue(chunk);
        controller.close();
      },
    });
    const expected = new Uint8Array(chunk.byteLength * chunks);
    for (let i = 0; i < chunks; i++) expected.set(chunk, i * chunk.byteLength);
    const { path, init } = upload(stream, {
      title: "big",
      type: "application/octet-stream",
      headers: { "content-length": String(expected.byteLength) },
    });
    const res = await api(path, { ...init, duplex: "half" } as RequestInit);
    expect(res.status).toBe(201);
    const created = (await res.json()) as DocumentJson;
    expect(created.sizeBytes).toBe(expected.byteLength);
    expect(created.sha256).toBe(await sha256Hex(expected));
  });

  it("requires a Content-Length (411)", async () => {
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("x"));
        controller.close();
      },
    });
    const { path, init } = upload(stream, { title: "no length" });
    const problem = await expectProblem(await api(path, { ...init, duplex: "half" } as RequestInit), 411);
    expect(problem.type).toBe("/problems/length_required");
  });

  it("refuses a body over the limit before reading it (413)", async () => {
    const { path, init } = upload("small body, large claim", { title: "too big" });
    const res = await apiWith({ MAX_UPLOAD_BYTES: "10" }, path, init);
    const problem = await expectProblem(res, 413);
    expect(problem.detail).toBe("The limit is 10 bytes.");
  });

  it("names a missing title", async () => {
    const { path, init } = upload("hello");
    const problem = await expectProblem(await api(path, init), 400);
    expect(problem.errors).toEqual([{ in: "query", pointer: "/title", message: expect.any(String) }]);
  });

  it("refuses an empty file", async () => {
    const { path, init } = upload("", { title: "empty" });
    await expectProblem(await api(path, init), 400);
  });
});

describe("GET /documents/{id}", () => {
  it("404s an unknown document", async () => {
    const problem = await expectProblem(await api(`/documents/${crypto.randomUUID()}`), 404);
    expect(problem.type).toBe("/problems/not_found");
  });
});

describe("an upload while a dependency is down leaves nothing behind", () => {
  const outageEnv = outageBindings() as Record<string, string>;
  const stopped: ("postgres" | "s3")[] = [];
  afterEach(async () => {
    for (const service of stopped.splice(0)) await outage(service, "start");
  });

  it("S3 down: 503 and no row", async () => {
    stopped.push("s3");
    await outage("s3", "stop");
    const { path, init } = upload("content", { title: "during s3 outage" });
    const problem = await expectProblem(await apiWith(outageEnv, path, init), 503);
    expect(problem.detail).toContain("storage");
    expect(await rowsTitled(outageEnv, "during s3 outage")).toBe(0);
  });

  it("Postgres down: 503 and the stored object is removed again", async () => {
    const before = await keysIn(outageEnv, "documents/");
    stopped.push("postgres");
    await outage("postgres", "stop");
    const { path, init } = upload("content", { title: "during postgres outage" });
    const problem = await expectProblem(await apiWith(outageEnv, path, init), 503);
    expect(problem.detail).toContain("postgres");
    expect(await keysIn(outageEnv, "documents/")).toEqual(before);

    await outage("postgres", "start");
    stopped.pop();
    expect(await rowsTitled(outageEnv, "during postgres outage")).toBe(0);
  });

  it("Postgres down: reading a document answers 503, not 500", async () => {
    stopped.push("postgres");
    await outage("postgres", "stop");
    const problem = await expectProblem(await apiWith(outageEnv, `/documents/${crypto.randomUUID()}`), 503);
    expect(problem.detail).toBe("postgres is unavailable; nothing was changed. Retry later.");
  });
});
