import { describe, expect, it } from "vitest";
import { ContentTooLargeError, partsOf } from "../../src/pkg/storage/storage.ts";

function reader(chunks: number[]): ReadableStreamDefaultReader<Uint8Array> {
  let i = 0;
  let value = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const size = chunks[i++];
      if (size === undefined) return controller.close();
      controller.enqueue(Uint8Array.from({ length: size }, () => value++ % 256));
    },
  }).getReader();
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

  it("reuses one buffer for every part", async () => {
    const seen = new Set<ArrayBufferLike>();
    for await (const part of partsOf(reader([8, 8, 8]), { size: 8 })) seen.add(part.buffer);
    expect(seen.size).toBe(1);
  });

  it("stops past maxBytes, without reading the rest", async () => {
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1;
        controller.enqueue(new Uint8Array(100));
      },
    }).getReader();
    await expect(collect(partsOf(endless, { size: 64, maxBytes: 1000 }))).rejects.toThrow(ContentTooLargeError);
    expect(pulled).toBeLessThanOrEqual(12);
  });

  it("gives nothing for an empty stream", async () => {
    expect(await collect(partsOf(reader([]), { size: 8 }))).toEqual([]);
  });
});
