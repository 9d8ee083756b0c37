import { afterEach, describe, expect, it, vi } from "vitest";
import { createLogger, redact } from "../../src/pkg/logger/logger.ts";
import { captureLines } from "../console-lines.ts";

afterEach(() => vi.restoreAllMocks());

describe("logger", () => {
  it("redacts sensitive keys at any depth and keeps the rest", () => {
    expect(
      redact({
        user: "ada",
        password: "p",
        nested: { apiKey: "k", list: [{ refresh_token: "t", ok: 1 }] },
        Authorization: "a",
      }),
    ).toEqual({
      user: "ada",
      password: "[redacted]",
      nested: { apiKey: "[redacted]", list: [{ refresh_token: "[redacted]", ok: 1 }] },
      Authorization: "[redacted]",
    });
  });

  it("flattens errors with their cause", () => {
    const flat = redact(new Error("outer", { cause: new TypeError("inner") })) as Record<string, unknown>;
    expect(flat).toMatchObject({ name: "Error", message: "outer", cause: { name: "TypeError", message: "inner" } });
  });

  it("drops lines below its level", async () => {
    const lines = await captureLines(async () => {
      const logger = createLogger({ level: "warn" });
      logger.info("hidden");
      logger.warn("shown", { a: 1 });
    });
    expect(lines).toEqual([expect.objectContaining({ level: "warn", message: "shown", a: 1 })]);
  });
});
