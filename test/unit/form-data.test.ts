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
    const file = await reader.partSource().readInto(new Uint8Array(64), 64);
    expect(new TextDecoder().decode(file)).toBe("0123456789");
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
    expect(formDataBoundary(undefined)).toBeUndefined();
  });
});

/** Reads a hand-written body at every chunk size from 1 byte to the whole, expecting the same parts each time. */
async function readAtEverySplit(text: string, boundary: string) {
  const bytes = encoder.encode(text);
  const results = [];
  for (let size = 1; size <= bytes.length; size += size < 16 ? 1 : 7) {
    results.push(await readAll(new FormDataReader(chunked(bytes, size), boundary)));
  }
  results.push(await readAll(new FormDataReader(chunked(bytes, bytes.length), boundary)));
  for (const result of results) expect(result).toEqual(results[0]);
  return results[0];
}

const field = (name: string, body: string) => ({ name, filename: undefined, contentType: undefined, body });

describe("FormDataReader against the grammar of RFC 2046 §5.1.1 and RFC 7578", () => {
  it("accepts transport padding (spaces, tabs) after a delimiter and after the close-delimiter", async () => {
    const body =
      '--b \t \r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--b\t\r\nContent-Disposition: form-data; name="y"\r\n\r\n2\r\n--b-- \t\r\nepilogue';
    expect(await readAtEverySplit(body, "b")).toEqual([field("x", "1"), field("y", "2")]);
  });

  it("still refuses other text on a boundary line", async () => {
    const body = '--b x\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--b--';
    await expect(readAll(new FormDataReader(chunked(encoder.encode(body), 3), "b"))).rejects.toThrow(
      /malformed boundary line/,
    );
  });

  it("skips a preamble whose lines contain the boundary mid-line, and any epilogue", async () => {
    const body =
      'This is the preamble. --b is not a delimiter here\r\nnor --b\r\n--b\r\nContent-Disposition: form-data; name="x"\r\n\r\nbody --b\r\n--b--\r\n--b\r\nContent-Disposition: form-data; name="late"\r\n\r\nignored\r\n--b--';
    expect(await readAtEverySplit(body, "b")).toEqual([field("x", "body --b")]);
  });

  it("reads a part whose empty body has no blank line before the next delimiter", async () => {
    // body-part := MIME-part-headers [CRLF *OCTET]: the CRLF that ends the headers may begin the delimiter.
    const body =
      '--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n--b\r\nContent-Disposition: form-data; name="y"\r\n\r\n\r\n--b--';
    expect(await readAtEverySplit(body, "b")).toEqual([field("x", ""), field("y", "")]);
  });

  it("takes boundaries made of any bchars, quoted in the Content-Type as they must be", async () => {
    const boundary = "'()+_,-./:=? Az09";
    const contentType = `multipart/form-data; boundary="${boundary}"`;
    expect(formDataBoundary(contentType)).toBe(boundary);
    const longest = "x".repeat(70);
    expect(formDataBoundary(`multipart/form-data; boundary=${longest}`)).toBe(longest);
    const body = `preamble\r\n--${boundary}\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--${boundary}--`;
    expect(await readAtEverySplit(body, boundary)).toEqual([field("x", "1")]);
  });

  it("refuses a multipart/form-data Content-Type without a valid boundary", () => {
    for (const contentType of [
      "multipart/form-data",
      "multipart/form-data; boundary=",
      `multipart/form-data; boundary=${"x".repeat(71)}`,
      'multipart/form-data; boundary="ends with space "',
      'multipart/form-data; boundary="no\\"quotes"',
      "multipart/form-data; boundary=not{bchars}",
    ]) {
      expect(() => formDataBoundary(contentType), contentType).toThrow(FormDataError);
    }
  });

  it("reads part headers case-insensitively, unfolds folded lines, and defaults nothing it was not sent", async () => {
    const body =
      '--b\r\nCONTENT-DISPOSITION: Form-Data;\r\n name="file";\r\n\tfilename="a.txt"\r\ncontent-TYPE: text/plain\r\n\r\nhello\r\n--b--';
    expect(await readAtEverySplit(body, "b")).toEqual([
      { name: "file", filename: "a.txt", contentType: "text/plain", body: "hello" },
    ]);
  });

  it("decodes filename* (RFC 8187) in a part, and falls back to filename when it is malformed", async () => {
    const part = (disposition: string) =>
      `--b\r\nContent-Disposition: form-data; name="file"; ${disposition}\r\n\r\nx\r\n--b--`;
    const nameOf = async (disposition: string) => (await readAtEverySplit(part(disposition), "b"))?.[0]?.filename;
    expect(await nameOf(`filename="resume.txt"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt`)).toBe("résumé.txt");
    expect(await nameOf(`filename*=iso-8859-1'fr'r%E9sum%E9.txt`)).toBe("résumé.txt");
    expect(await nameOf(`filename="plain.txt"; filename*=UTF-8''%E0%A4%A.txt`)).toBe("plain.txt");
    expect(await nameOf(`filename*=UTF-8''%E0%A4%A.txt`)).toBeUndefined();
  });

  it("reads names as browsers escape them (%22, %0D, %0A), round-tripping the platform's FormData", async () => {
    const form = new FormData();
    form.append("file", new File(["x"], 'say "hi"\r\nthere.txt', { type: "text/plain" }));
    const request = new Request("http://x/", { method: "POST", body: form });
    const boundary = formDataBoundary(request.headers.get("content-type") ?? "") ?? "";
    const parts = await readAll(new FormDataReader(chunked(new Uint8Array(await request.arrayBuffer()), 5), boundary));
    expect(parts[0]?.filename).toBe('say "hi"\r\nthere.txt');
  });

  it("refuses a Content-Transfer-Encoding other than 7bit, 8bit or binary (RFC 7578 §4.7)", async () => {
    const part = (encoding: string) =>
      `--b\r\nContent-Disposition: form-data; name="file"; filename="f.txt"\r\nContent-Transfer-Encoding: ${encoding}\r\n\r\naGVsbG8=\r\n--b--`;
    await expect(readAll(new FormDataReader(chunked(encoder.encode(part("base64")), 7), "b"))).rejects.toThrow(
      /Content-Transfer-Encoding base64/,
    );
    expect((await readAtEverySplit(part("8bit"), "b"))?.[0]?.body).toBe("aGVsbG8=");
  });

  it("decodes a field in the charset its Content-Type names, and refuses an unknown charset", async () => {
    const latin1 = new Uint8Array([
      ...encoder.encode(
        '--b\r\nContent-Disposition: form-data; name="title"\r\nContent-Type: text/plain; charset=ISO-8859-1\r\n\r\n',
      ),
      ...[0x72, 0xe9, 0x73, 0x75, 0x6d, 0xe9], // "résumé" in ISO-8859-1
      ...encoder.encode("\r\n--b--"),
    ]);
    const reader = new FormDataReader(chunked(latin1, 4), "b");
    await reader.nextPart();
    expect(await reader.text(100)).toBe("résumé");

    const bogus = encoder.encode(
      '--b\r\nContent-Disposition: form-data; name="title"\r\nContent-Type: text/plain; charset=no-such-charset\r\n\r\nx\r\n--b--',
    );
    const refusing = new FormDataReader(chunked(bogus, 4), "b");
    await refusing.nextPart();
    await expect(refusing.text(100)).rejects.toThrow(FormDataError);
  });
});

describe("quoted-pairs in a part's Content-Disposition (RFC 9110 §5.6.4, RFC 2045 writers)", () => {
  const nameOf = async (disposition: string) =>
    (await readAtEverySplit(`--b\r\nContent-Disposition: ${disposition}\r\n\r\nx\r\n--b--`, "b"))?.[0]?.filename;

  it("unescapes \\\" and \\\\ as Go's mime/multipart writes them", async () => {
    expect(await nameOf('form-data; name="file"; filename="a\\"b.txt"')).toBe('a"b.txt');
    expect(await nameOf('form-data; name="file"; filename="a\\\\b.txt"')).toBe("a\\b.txt");
    expect(await nameOf('form-data; name="file"; filename="\\"quoted\\" \\\\ both.txt"')).toBe('"quoted" \\ both.txt');
    // A quoted-pair in the name, and a filename after it, are read too.
    const [part] = (await readAtEverySplit(
      '--b\r\nContent-Disposition: form-data; name="fi\\"le"; filename="n.txt"\r\n\r\nx\r\n--b--',
      "b",
    )) ?? [{ name: "", filename: undefined }];
    expect(part).toMatchObject({ name: 'fi"le', filename: "n.txt" });
  });

  it("still reads what browsers send: %22 for a quote, a backslash as itself", async () => {
    expect(await nameOf('form-data; name="file"; filename="a%22b.txt"')).toBe('a"b.txt');
    expect(await nameOf('form-data; name="file"; filename="C:\\dir\\f.txt"')).toBe("C:\\dir\\f.txt");
    // A browser's name that ends in a backslash: not a quoted-pair, the string closes there.
    expect(await nameOf('form-data; name="file"; filename="a\\"')).toBe("a\\");
  });
});

describe("part headers that must not repeat", () => {
  it("refuses a second Content-Disposition, Content-Type or Content-Transfer-Encoding in a part", async () => {
    for (const [header, values] of [
      ["Content-Disposition", ['form-data; name="file"; filename="a.txt"', 'form-data; name="title"']],
      ["Content-Type", ["text/plain", "image/png"]],
      ["Content-Transfer-Encoding", ["binary", "8bit"]],
    ] as const) {
      const extra = header === "Content-Disposition" ? "" : 'Content-Disposition: form-data; name="file"\r\n';
      const body = `--b\r\n${extra}${values.map((value) => `${header}: ${value}\r\n`).join("")}\r\nx\r\n--b--`;
      await expect(readAll(new FormDataReader(chunked(encoder.encode(body), 5), "b")), header).rejects.toThrow(
        `a part has more than one ${header.toLowerCase()} header`,
      );
    }
  });

  it("ignores other headers, repeated or not (RFC 7578 §4.8)", async () => {
    const body = '--b\r\nX-Note: 1\r\nContent-Disposition: form-data; name="x"\r\nX-Note: 2\r\n\r\n1\r\n--b--';
    expect(await readAtEverySplit(body, "b")).toEqual([field("x", "1")]);
  });
});
