import { describe, expect, it } from "vitest";
import { FormDataError, FormDataReader, formDataBoundary } from "../../src/documents/form-data.ts";

const encoder = new TextEncoder();

/** A body delivered in chunks of `size` bytes, so every split point gets exercised. */
function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + size));
      offset += size;
    },
  });
}

async function readAll(reader: FormDataReader) {
  const parts: { name: string; filename?: string | undefined; contentType?: string | undefined; body: string }[] = [];
  for (let part = await reader.nextPart(); part; part = await reader.nextPart()) {
    const chunks: Uint8Array[] = [];
    for (let chunk = await reader.readChunk(); chunk; chunk = await reader.readChunk()) chunks.push(chunk.slice());
    const body = new TextDecoder().decode(await new Blob(chunks).arrayBuffer());
    parts.push({ name: part.name, filename: part.filename, contentType: part.contentType, body });
  }
  return parts;
}

describe("FormDataReader", () => {
  it("reads what the platform's FormData encodes, split at every possible point", async () => {
    const form = new FormData();
    form.append("title", "Quarterly ☃ report");
    form.append("tags", "a,b");
    // Content that contains near-boundaries, CRLFs and dashes.
    const file = "line 1\r\n--\r\n--not-the-boundary\r\nlast line without newline";
    form.append("file", new File([file], "ré port.txt", { type: "text/plain" }));
    const request = new Request("http://x/", { method: "POST", body: form });
    const boundary = formDataBoundary(request.headers.get("content-type") ?? "");
    expect(boundary).toBeTruthy();
    const bytes = new Uint8Array(await request.arrayBuffer());
    for (const size of [1, 2, 3, 7, 16, 61, 200, bytes.length]) {
      const parts = await readAll(new FormDataReader(chunked(bytes, size), boundary ?? ""));
      expect(parts, `chunks of ${size}`).toEqual([
        { name: "title", filename: undefined, contentType: undefined, body: "Quarterly ☃ report" },
        { name: "tags", filename: undefined, contentType: undefined, body: "a,b" },
        { name: "file", filename: "ré port.txt", contentType: "text/plain", body: file },
      ]);
    }
  });

  it("streams a file part and reads fields with a size cap", async () => {
    const body = encoder.encode(
      '--b\r\nContent-Disposition: form-data; name="title"\r\n\r\nhello\r\n--b\r\nContent-Disposition: form-data; name="file"; filename="f.bin"\r\nContent-Type: application/octet-stream\r\n\r\n0123456789\r\n--b--\r\n',
    );
    const reader = new FormDataReader(chunked(body, 5), "b");
    expect((await reader.nextPart())?.name).toBe("title");
    expect(await reader.text(100)).toBe("hello");
    expect(await reader.nextPart()).toMatchObject({ name: "file", filename: "f.bin" });
    expect(await new Response(reader.bodyStream()).text()).toBe("0123456789");
    expect(await reader.nextPart()).toBeNull();

    const capped = new FormDataReader(chunked(body, 5), "b");
    await capped.nextPart();
    await expect(capped.text(3)).rejects.toThrow(FormDataError);
  });

  it("skips a preamble and ignores what follows the closing boundary", async () => {
    const body = encoder.encode(
      'preamble text\r\n--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--b--\r\nepilogue',
    );
    expect(await readAll(new FormDataReader(chunked(body, 4), "b"))).toEqual([
      { name: "x", filename: undefined, contentType: undefined, body: "1" },
    ]);
  });

  it("rejects malformed bodies with a FormDataError", async () => {
    const cases = [
      "no boundary at all",
      '--b\r\nContent-Disposition: form-data; name="x"\r\n\r\nnever closed',
      "--b\r\nContent-Type: text/plain\r\n\r\nno disposition\r\n--b--",
      "--b\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--b--",
      `--b\r\nContent-Disposition: form-data; name="x"\r\n${"X-Long: y\r\n".repeat(1000)}\r\n\r\n--b--`,
    ];
    for (const text of cases) {
      await expect(
        readAll(new FormDataReader(chunked(encoder.encode(text), 64), "b")),
        text.slice(0, 30),
      ).rejects.toThrow(FormDataError);
    }
    const many = `${'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n'.repeat(30)}--b--`;
    await expect(readAll(new FormDataReader(chunked(encoder.encode(many), 64), "b", { maxParts: 20 }))).rejects.toThrow(
      /more than 20 parts/,
    );
  });

  it("finds the boundary of a multipart/form-data Content-Type only", () => {
    expect(formDataBoundary("multipart/form-data; boundary=abc")).toBe("abc");
    expect(formDataBoundary('Multipart/Form-Data; charset=utf-8; boundary="a b c"')).toBe("a b c");
    expect(formDataBoundary("multipart/mixed; boundary=abc")).toBeUndefined();
    expect(formDataBoundary("text/plain")).toBeUndefined();
    expect(formDataBoundary("multipart/form-data")).toBeUndefined();
  });
});
