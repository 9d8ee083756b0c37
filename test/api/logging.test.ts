import { afterEach, describe, expect, it, vi } from "vitest";
import { apiWith, captureLines } from "../helpers.ts";

afterEach(() => vi.restoreAllMocks());

describe("request log", () => {
  it("writes one JSON line per request with method, path, status, duration, request id and the client's", async () => {
    let requestId: string | null = null;
    const lines = await captureLines(async () => {
      const res = await apiWith({ LOG_LEVEL: "info" }, "/health", { headers: { "X-Request-ID": "log-test-1" } });
      requestId = res.headers.get("x-request-id");
      return res;
    });
    const requests = lines.filter((line) => line.message === "request");
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({
      level: "info",
      method: "GET",
      path: "/health",
      status: 200,
      requestId,
      clientRequestId: "log-test-1",
      durationMs: expect.any(Number),
    });
  });

  it("never writes tokens, passwords or query strings", async () => {
    const lines = await captureLines(() =>
      apiWith({ LOG_LEVEL: "debug" }, "/nowhere?access_token=sekrit-token&password=hunter2", {
        headers: { Authorization: "Bearer sekrit-bearer", Cookie: "session=sekrit-cookie" },
      }),
    );
    const text = JSON.stringify(lines);
    expect(lines.some((line) => line.message === "request" && line.status === 404)).toBe(true);
    for (const secret of ["sekrit-token", "hunter2", "sekrit-bearer", "sekrit-cookie"])
      expect(text).not.toContain(secret);
  });

  it("logs a 5xx at error level", async () => {
    const lines = await captureLines(() => apiWith({ LOG_LEVEL: "info", DATABASE_URL: "nope" }, "/health"));
    expect(lines.find((line) => line.message === "request")).toMatchObject({ level: "error", status: 500 });
    expect(lines.find((line) => line.message === "configuration invalid")).toBeDefined();
  });
});
