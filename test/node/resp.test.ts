import { describe, expect, it } from "vitest";
import { encodeCommand, parseReply } from "../../stack/resp.ts";

const bytes = (text: string) => Buffer.from(text, "utf8");

describe("RESP2 codec of the Upstash endpoint", () => {
  it("encodes a command as an array of bulk strings, byte-counted", () => {
    expect(encodeCommand([bytes("SET"), bytes("k"), bytes("é")]).toString()).toBe(
      "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\né\r\n",
    );
  });

  it("parses every reply type, keeping status apart from bulk", () => {
    const wire = bytes("+OK\r\n-ERR bad\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*2\r\n:1\r\n*1\r\n$1\r\nx\r\n*-1\r\n");
    const replies = [];
    let offset = 0;
    while (offset < wire.length) {
      const parsed = parseReply(wire, offset);
      if (!parsed) throw new Error("incomplete");
      replies.push(parsed.reply);
      offset = parsed.next;
    }
    expect(replies).toEqual([
      { kind: "status", value: "OK" },
      { kind: "error", value: "ERR bad" },
      { kind: "integer", value: 42 },
      { kind: "bulk", value: bytes("hello") },
      { kind: "bulk", value: null },
      {
        kind: "array",
        value: [
          { kind: "integer", value: 1 },
          { kind: "array", value: [{ kind: "bulk", value: bytes("x") }] },
        ],
      },
      { kind: "array", value: null },
    ]);
  });

  it("waits for the rest of a reply split across reads, at every split point", () => {
    const wire = bytes("*2\r\n$12\r\nhello\r\nworld\r\n:7\r\n");
    for (let cut = 0; cut < wire.length; cut++) {
      expect(parseReply(wire.subarray(0, cut), 0)).toBeUndefined();
    }
    expect(parseReply(wire, 0)?.reply).toEqual({
      kind: "array",
      value: [
        { kind: "bulk", value: bytes("hello\r\nworld") },
        { kind: "integer", value: 7 },
      ],
    });
  });

  it("keeps binary bulk strings intact", () => {
    const payload = Buffer.from([0, 255, 13, 10, 128]);
    const wire = Buffer.concat([bytes("$5\r\n"), payload, bytes("\r\n")]);
    expect(parseReply(wire, 0)?.reply).toEqual({ kind: "bulk", value: payload });
  });

  it("rejects an unknown type byte", () => {
    expect(() => parseReply(bytes("?what\r\n"), 0)).toThrow(/unexpected RESP type/);
  });
});
