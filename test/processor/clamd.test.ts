import { describe, expect, it } from "vitest";
import { createClamd, ScannerUnavailableError } from "../../src/pkg/virus-scan/clamd.ts";
import { EICAR } from "../fixtures/files.ts";
import { config, testEnv } from "./helpers.ts";

const address = config.virusScan?.address ?? "";

/** A stream of `count` chunks of `size` bytes, the EICAR string at the very end if asked. */
function body(count: number, size: number, tail = ""): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent === count) {
        if (tail) controller.enqueue(new TextEncoder().encode(tail));
        return controller.close();
      }
      controller.enqueue(new Uint8Array(size).fill(0x61));
      sent += 1;
    },
  });
}

describe("clamd over INSTREAM (a real clamd)", () => {
  it("answers PING", async () => {
    expect(testEnv.VIRUS_SCAN).toBe("required");
    await createClamd({ address }).ping();
  });

  it("finds EICAR and passes clean data, streamed in frames", async () => {
    const clamd = createClamd({ address });
    expect(await clamd.scan(new Response(EICAR).body as ReadableStream<Uint8Array>)).toEqual({
      infected: true,
      signature: "Eicar-Test-Signature.UNOFFICIAL",
    });
    // 5 MiB in 1 MiB chunks, each split into clamd frames.
    expect(await clamd.scan(body(5, 1024 * 1024))).toEqual({ infected: false });
  });

  it("reports an unreachable daemon as unavailable (retry), never as clean", async () => {
    await expect(createClamd({ address: "127.0.0.1:1" }).scan(body(1, 10))).rejects.toThrow(ScannerUnavailableError);
  });
});
