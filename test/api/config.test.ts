import { describe, expect, it } from "vitest";
import { apiWith, expectProblem } from "../helpers.ts";

// How the app answers a configuration it refuses; the rules themselves are in test/unit/config.test.ts.
describe("configuration", () => {
  it("fails closed: every request answers 500 naming the variable", async () => {
    const res = await apiWith({ DATABASE_URL: "not a url" }, "/health");
    const problem = await expectProblem(res, 500);
    expect(problem.type).toBe("/problems/config_invalid");
    expect(problem.detail).toContain("DATABASE_URL");
  });

  it("names a malformed variable whose name holds a word like TIMEOUT, rather than blaming Postgres", async () => {
    // Below its minimum (300 s). The handler once matched "TIMEOUT" in the message and answered 503.
    const res = await apiWith({ SESSION_IDLE_TIMEOUT_SECONDS: "60" } as Partial<Env>, "/health");
    const problem = await expectProblem(res, 500);
    expect(problem.type).toBe("/problems/config_invalid");
    expect(problem.detail).toContain("SESSION_IDLE_TIMEOUT_SECONDS");
  });
});
