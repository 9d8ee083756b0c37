import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

describe("GET /health", () => {
  it("answers ok", async () => {
    const res = await exports.default.fetch("http://api.test/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });
});

describe("GET /ready", () => {
  it("reports every dependency up", async () => {
    const res = await exports.default.fetch("http://api.test/ready");
    const body = await res.json();
    console.log(JSON.stringify(body));
    expect(res.status).toBe(200);
  });
});
