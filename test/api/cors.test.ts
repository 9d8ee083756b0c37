import { describe, expect, it } from "vitest";
import { apiWith } from "../helpers.ts";

const origins = { CORS_ORIGINS: "https://app.techcorp.example, https://admin.techcorp.example" } as Partial<Env>;

describe("CORS", () => {
  it("allows a configured origin, exposing the request id and rate-limit headers", async () => {
    const res = await apiWith(origins, "/health", { headers: { origin: "https://app.techcorp.example" } });
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.techcorp.example");
    expect(res.headers.get("access-control-expose-headers")).toContain("X-Request-ID");
    expect(res.headers.get("access-control-expose-headers")).toContain("RateLimit");
    expect(res.headers.get("access-control-expose-headers")).toContain("X-Cache");
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("gives no grant to any other origin", async () => {
    const res = await apiWith(origins, "/health", { headers: { origin: "https://evil.example" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("answers a preflight for an allowed origin with the methods and headers it may use", async () => {
    const res = await apiWith(origins, "/users/me", {
      method: "OPTIONS",
      headers: {
        origin: "https://admin.techcorp.example",
        "access-control-request-method": "PATCH",
        "access-control-request-headers": "authorization, content-type",
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://admin.techcorp.example");
    expect(res.headers.get("access-control-allow-methods")).toContain("PATCH");
    expect(res.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
    expect(res.headers.get("access-control-max-age")).toBe("600");
  });

  it("allows nothing when no origins are configured", async () => {
    const res = await apiWith({ CORS_ORIGINS: "" } as Partial<Env>, "/health", {
      headers: { origin: "https://app.techcorp.example" },
    });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });
});
