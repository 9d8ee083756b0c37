import { describe, expect, it } from "vitest";
import { probe } from "../../src/app/readiness.ts";
import { createLogger } from "../../src/pkg/logger/logger.ts";

describe("readiness checks", () => {
  const logger = createLogger({ level: "error" });

  it("report `timeout` only when their own deadline passed, not for an error that says so", async () => {
    const check = await probe("redis", logger, async () => {
      throw new Error("timeout");
    });
    expect(check).toMatchObject({ status: "down", reason: "unreachable" });
  });

  it("report a dependency that answers as up", async () => {
    expect(await probe("redis", logger, async () => "up")).toMatchObject({ status: "up" });
  });
});
