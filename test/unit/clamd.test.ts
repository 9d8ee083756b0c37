import { describe, expect, it } from "vitest";
import { parseReply, ScannerUnavailableError, ScanRefusedError } from "../../src/pkg/virus-scan/clamd.ts";

describe("parseReply", () => {
  it("reads clamd's answers", () => {
    expect(parseReply("stream: OK\0")).toEqual({ infected: false });
    expect(parseReply("stream: Win.Test.EICAR_HDB-1 FOUND\0")).toEqual({
      infected: true,
      signature: "Win.Test.EICAR_HDB-1",
    });
    expect(() => parseReply("INSTREAM size limit exceeded. ERROR\0")).toThrow(ScanRefusedError);
    expect(() => parseReply("stream: Can't allocate memory ERROR\0")).toThrow(ScannerUnavailableError);
    expect(() => parseReply("")).toThrow(ScannerUnavailableError);
  });
});
