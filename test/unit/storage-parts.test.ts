import { describe, expect, it } from "vitest";
import {
  type ByteSource,
  byteSource,
  ContentTooLargeError,
  FIRST_READ_BYTES,
  PART_BYTES,
  partsOf,
  readerSource,
} from "../../src/pkg/storage/storage.ts";

function reader(chunks: number[]): ByteSource {
  return readerSource(stream(chunks).getReader());
}

function stream(chunks: number[]): ReadableStream<Uint8Array> {
  let i = 0;
  let value = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const size = chunks[i++];
      if (size === undefined) return controller.close();
      controller.enqueue(Uint8Array.from({ length: size }, () => value++ % 256));
    },
  });
}

/** A byte stream as workerd gives a request body (BYOB reads fill the part buffers). */
function byteStream(length: number): ReadableStream<Uint8Array> {
  const body = new Response(Uint8Array.from({ length }, (_, i) => i % 251)).body;
  if (!body) throw new Error("no body");
  return body;
}

/** Copies each part as it comes: a part is only valid until the next is asked for. */
async function collect(parts: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const part of parts) out.push(part.slice());
  return out;
}

describe("partsOf", () => {
  it("cuts any chunking into parts of exactly the size, the last shorter, bytes in order", async () => {
    const parts = await collect(partsOf(reader([3, 10, 1, 7, 0, 4]), { size: 8 }));
    expect(parts.map((p) => p.length)).toEqual([8, 8, 8, 1]);
    expect(Array.from(parts.flatMap((p) => Array.from(p)))).toEqual(Array.from({ length: 25 }, (_, i) => i));
  });

  it("starts with bytes already read (the sniffed head)", async () => {
    const parts = await collect(partsOf(reader([4]), { size: 4, head: Uint8Array.from([9, 9]) }));
    expect(parts.map((p) => Array.from(p))).toEqual([
      [9, 9, 0, 1],
      [2, 3],
    ]);
  });

  it("takes turns with two buffers: a part stays intact while the next is read", async () => {
    const seen = new Set<ArrayBufferLike>();
    let previous: { part: Uint8Array; copy: number[] } | undefined;
    for await (const part of partsOf(reader([8, 8, 8, 8, 3]), { size: 8 })) {
      // The part before is what an upload still sends while this one was read.
      if (previous) expect(Array.from(previous.part)).toEqual(previous.copy);
      previous = { part, copy: Array.from(part) };
      seen.add(part.buffer);
    }
    expect(seen.size).toBe(2);
  });

  it("allocates one buffer for content shorter than a part", async () => {
    const seen = new Set<ArrayBufferLike>();
    for await (const part of partsOf(reader([3, 2]), { size: 8 })) seen.add(part.buffer);
    expect(seen.size).toBe(1);
  });

  it("holds a small body in a buffer of FIRST_READ_BYTES, not a whole part", async () => {
    const buffers: number[] = [];
    for await (const part of partsOf(byteSource(byteStream(16 * 1024)))) buffers.push(part.buffer.byteLength);
    expect(buffers).toEqual([FIRST_READ_BYTES]);
  });

  it.each([FIRST_READ_BYTES - 1, FIRST_READ_BYTES, FIRST_READ_BYTES + 1, 4 * FIRST_READ_BYTES + 3])(
    "grows the first buffer past %i bytes without losing or reordering any",
    async (length) => {
      const parts = await collect(partsOf(byteSource(byteStream(length))));
      expect(parts.map((p) => p.length)).toEqual([length]);
      const bytes = parts[0] ?? new Uint8Array(0);
      expect(bytes.every((byte, i) => byte === i % 251)).toBe(true);
    },
  );

  it.each([0, 1, PART_BYTES - 1, PART_BYTES, PART_BYTES + 1, 2 * PART_BYTES + 5])(
    "reads a byte stream of %i bytes through BYOB reads into exact parts",
    async (length) => {
      const lengths: number[] = [];
      let offset = 0;
      let intact = true;
      for await (const part of partsOf(byteSource(byteStream(length)))) {
        lengths.push(part.length);
        for (let i = 0; i < part.length; i += 4093) if (part[i] !== (offset + i) % 251) intact = false;
        if (part.length > 0 && part[part.length - 1] !== (offset + part.length - 1) % 251) intact = false;
        offset += part.length;
      }
      const whole = Math.floor(length / PART_BYTES);
      const rest = length % PART_BYTES;
      expect(lengths).toEqual([...Array<number>(whole).fill(PART_BYTES), ...(rest > 0 ? [rest] : [])]);
      expect(intact).toBe(true);
    },
  );

  it("reads at most one byte past maxBytes from a byte stream", async () => {
    const body = byteStream(5000);
    let delivered = 0;
    const inner = byteSource(body);
    const counting: ByteSource = {
      async readInto(view, minBytes) {
        const read = await inner.readInto(view, minBytes);
        delivered += read.length;
        return read;
      },
      cancel: (reason) => inner.cancel(reason),
    };
    await expect(collect(partsOf(counting, { size: 4096, maxBytes: 1000 }))).rejects.toThrow(ContentTooLargeError);
    expect(delivered).toBe(1001);
  });

  it("hands a read error to onError (a broken request body)", async () => {
    let sent = false;
    const broken = new ReadableStream({
      type: "bytes",
      pull(controller: ReadableByteStreamController) {
        if (sent) return controller.error(new Error("connection lost"));
        sent = true;
        controller.enqueue(new Uint8Array(10));
      },
    }) as ReadableStream<Uint8Array>;
    const source = byteSource(broken, (error) => new SyntaxError(`wrapped: ${String(error)}`));
    await expect(collect(partsOf(source, { size: 8 }))).rejects.toThrow(/wrapped: Error: connection lost/);
  });

  it("stops past maxBytes, without reading the rest", async () => {
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1;
        controller.enqueue(new Uint8Array(100));
      },
    });
    await expect(collect(partsOf(readerSource(endless.getReader()), { size: 64, maxBytes: 1000 }))).rejects.toThrow(
      ContentTooLargeError,
    );
    expect(pulled).toBeLessThanOrEqual(12);
  });

  it("gives nothing for an empty stream", async () => {
    expect(await collect(partsOf(reader([]), { size: 8 }))).toEqual([]);
  });
});
