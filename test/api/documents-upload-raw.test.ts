import { describe, expect, inject, it } from "vitest";
import { signedIn } from "../auth-helpers.ts";
import { created, processed, rawUpload } from "../document-helpers.ts";
import { api, apiWith, expectProblem } from "../helpers.ts";

describe("what a small upload costs, counted by the stack's meter", () => {
  // Provided by test/global-setup.ts, whose ProvidedContext declaration the workers' tsconfig does not see.
  const meterUrl = (inject as (key: string) => unknown)("meterUrl") as string;
  type Counts = Record<"postgres" | "redis" | "s3", { roundTrips: number; sequential: number }>;

  it("a new document is two Postgres round trips: its intent with the usage, then its record with the quota check (its audience is known without one)", async () => {
    // First in this file: no earlier upload of it is being processed meanwhile.
    const { auth } = await signedIn();
    expect((await fetch(`${meterUrl}/round-trips/reset`, { method: "POST" })).status).toBe(204);
    await created(rawUpload(auth, "a small note", "text/plain", { title: "note" }));
    // Up to the answer: its processing, which the queue starts later, is not counted.
    const counts = (await (await fetch(`${meterUrl}/round-trips?until=${Date.now()}`)).json()) as Counts;
    expect(counts.postgres).toEqual({ roundTrips: 2, sequential: 2 });
  });
});

describe("POST /documents (raw body)", () => {
  it("streams a large body of unknown length (chunked) to storage as a multipart upload", async () => {
    const { auth } = await signedIn();
    const chunk = new TextEncoder().encode("All work and no play makes Jack a dull boy.\n".repeat(1490)); // ~64 KiB
    const chunks = 320; // ~20 MiB: three 8 MiB parts
    let sent = 0;
    const hash = new crypto.DigestStream("SHA-256");
    const writer = hash.getWriter();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent === chunks) {
          controller.close();
          await writer.close();
          return;
        }
        controller.enqueue(chunk);
        await writer.write(chunk);
        sent += 1;
      },
    });
    const doc = await created(rawUpload(auth, body, "text/plain", { title: "big log", tags: "logs,2026" }));
    const expectedHash = Array.from(new Uint8Array(await hash.digest), (b) => b.toString(16).padStart(2, "0")).join("");
    expect(doc).toMatchObject({
      title: "big log",
      tags: ["logs", "2026"],
      sizeBytes: chunk.byteLength * chunks,
      sha256: expectedHash,
    });
    const ready = await processed(auth, doc.id, 60_000);
    expect(ready.status).toBe("ready");
    // Download returns exactly the bytes sent.
    const download = await api(`/documents/${doc.id}/content`, { headers: auth });
    expect(download.headers.get("content-length")).toBe(String(chunk.byteLength * chunks));
    const digest = new crypto.DigestStream("SHA-256");
    await download.body?.pipeTo(digest);
    expect(Array.from(new Uint8Array(await digest.digest), (b) => b.toString(16).padStart(2, "0")).join("")).toBe(
      expectedHash,
    );
  });

  it("refuses a body sent as JSON for its type (415), on a new document and a new version", async () => {
    const { auth } = await signedIn();
    const document = await created(rawUpload(auth, "first", "text/plain", { title: "json" }));
    for (const path of ["/documents?title=json", `/documents/${document.id}/versions`]) {
      for (const type of ["application/json", "application/merge-patch+json", "application/json; charset=utf-8"]) {
        const res = await api(path, { method: "POST", headers: { ...auth, "content-type": type }, body: "{}" });
        expect((await expectProblem(res, 415)).type, `${type} to ${path}`).toBe("/problems/unsupported_media_type");
      }
    }
    const versions = await api(`/documents/${document.id}/versions`, { headers: auth });
    expect(((await versions.json()) as { data: unknown[] }).data).toHaveLength(1);
  });

  it("refuses a body over the limit before reading it when Content-Length says so (413)", async () => {
    const { auth } = await signedIn();
    const res = await apiWith({ MAX_UPLOAD_BYTES: "10" }, "/documents?title=big", {
      method: "POST",
      headers: { ...auth, "content-type": "text/plain", "content-length": "23" },
      body: "small body, large claim",
    });
    const problem = await expectProblem(res, 413);
    expect(problem.detail).toBe("The limit is 10 bytes.");
  });

  it("stops a chunked body as soon as it passes the limit (413) and keeps nothing", async () => {
    const { auth, user } = await signedIn();
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1;
        controller.enqueue(new TextEncoder().encode("x".repeat(1024)));
      },
    });
    const res = await apiWith({ MAX_UPLOAD_BYTES: "8192" }, "/documents?title=endless", {
      method: "POST",
      headers: { ...auth, "content-type": "text/plain" },
      body: endless,
      duplex: "half",
    } as RequestInit);
    await expectProblem(res, 413);
    // It stopped reading shortly after the limit, not at the end of the stream (there is none).
    expect(pulled).toBeLessThan(64);
    const list = (await (await api(`/documents?owner=${user.id}`, { headers: auth })).json()) as { data: unknown[] };
    expect(list.data).toEqual([]);
  });

  it("takes the file name from Content-Disposition", async () => {
    const { auth } = await signedIn();
    const doc = await created(
      rawUpload(auth, "plain text", "text/plain; charset=utf-8", {
        headers: { "content-disposition": "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.txt" },
      }),
    );
    expect(doc.title).toBe("résumé.txt");
    expect(doc.contentType).toBe("text/plain");
  });

  it("never answers 500 for a malformed filename* (RFC 8187): it falls back to filename, or to no name", async () => {
    const { auth } = await signedIn();
    const upload = (disposition: string) =>
      created(rawUpload(auth, "plain text", "text/plain", { headers: { "content-disposition": disposition } }));
    expect((await upload("attachment; filename*=UTF-8''%E0%A4%A.txt")).title).toBe("Untitled");
    expect((await upload(`attachment; filename="fallback.txt"; filename*=UTF-8''%E0%A4%A.txt`)).title).toBe(
      "fallback.txt",
    );
    expect((await upload("attachment; filename*=UTF-8''%ZZ")).title).toBe("Untitled");
  });

  it("reads every form of Content-Disposition parameter RFC 6266 allows", async () => {
    const { auth } = await signedIn();
    const titleOf = async (disposition: string) =>
      (await created(rawUpload(auth, "plain text", "text/plain", { headers: { "content-disposition": disposition } })))
        .title;
    expect(await titleOf("attachment; filename*=ISO-8859-1'fr'r%E9sum%E9.txt")).toBe("résumé.txt");
    expect(await titleOf('attachment; filename="a \\"quoted\\" name.txt"')).toBe('a "quoted" name.txt');
    expect(await titleOf("attachment; FileName=token.txt")).toBe("token.txt");
    expect(await titleOf(`attachment; filename*=UTF-8''star.txt; filename="plain.txt"`)).toBe("star.txt");
    // Path information is dropped (RFC 6266 §4.3).
    expect(await titleOf('attachment; filename="../../etc/passwd.txt"')).toBe("passwd.txt");
    expect(await titleOf('attachment; filename="C:\\\\Users\\\\ada\\\\notes.txt"')).toBe("notes.txt");
  });
});
