import { createRoute, z } from "@hono/zod-openapi";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app/create-app.ts";
import { SECURITY_HEADERS } from "../../src/gateway/security-headers.ts";
import { ApiError } from "../../src/pkg/errors/api-error.ts";
import { signedIn } from "../auth-helpers.ts";
import { api, expectProblem, testEnv } from "../helpers.ts";

/** The real application shell with a few routes that fail on purpose. */
function failingApp() {
  const app = createApp();
  app.get("/boom", () => {
    throw new Error("secret internal detail at /work/main/src/thing.ts:12");
  });
  app.get("/teapot", () => {
    throw new ApiError("conflict", { detail: "already there", headers: { "X-Extra": "1" } });
  });
  app.openapi(
    createRoute({
      method: "post",
      path: "/items",
      request: {
        body: {
          required: true,
          content: {
            "application/json": {
              schema: z.object({
                name: z.string().min(1),
                count: z.number().int().positive(),
                tags: z.array(z.string()),
              }),
            },
          },
        },
      },
      responses: { 204: { description: "ok" } },
    }),
    (c) => c.body(null, 204),
  );
  return app;
}

const request = (path: string, init?: RequestInit) => failingApp().request(path, init, testEnv);

describe("problem+json errors", () => {
  it("answers an unknown route with 404 problem", async () => {
    const problem = await expectProblem(await api("/nowhere"), 404);
    expect(problem.type).toBe("/problems/not_found");
    expect(problem.instance).toBe("/nowhere");
  });

  it("answers a known path with the wrong method with 405 and Allow", async () => {
    const res = await api("/health", { method: "DELETE" });
    const problem = await expectProblem(res, 405);
    expect(problem.type).toBe("/problems/method_not_allowed");
    expect(res.headers.get("allow")).toBe("GET, HEAD");
  });

  it("names every failing field of a body", async () => {
    const res = await request("/items", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "", count: -1, tags: ["ok", 3] }),
    });
    const problem = await expectProblem(res, 400);
    expect(problem.type).toBe("/problems/validation_failed");
    expect(problem.errors?.map((e) => `${e.in} ${e.pointer}`).sort()).toEqual([
      "body /count",
      "body /name",
      "body /tags/1",
    ]);
  });

  it("answers malformed JSON with 400, not 500", async () => {
    const res = await request("/items", { method: "POST", headers: { "content-type": "application/json" }, body: "{" });
    await expectProblem(res, 400);
  });

  it("answers a body of the wrong media type with 415", async () => {
    const res = await request("/items", { method: "POST", headers: { "content-type": "text/plain" }, body: "x" });
    const problem = await expectProblem(res, 415);
    expect(problem.type).toBe("/problems/unsupported_media_type");
  });

  it("names invalid path parameters", async () => {
    const { auth } = await signedIn();
    const problem = await expectProblem(await api("/documents/not-a-uuid", { headers: auth }), 400);
    expect(problem.errors).toEqual([{ in: "path", pointer: "/id", message: expect.any(String) }]);
  });

  it("keeps an ApiError's status, detail and headers", async () => {
    const res = await request("/teapot");
    const problem = await expectProblem(res, 409);
    expect(problem.detail).toBe("already there");
    expect(res.headers.get("x-extra")).toBe("1");
  });

  it("answers an unexpected error with a bare 500: no message, no stack", async () => {
    const res = await request("/boom");
    const problem = await expectProblem(res, 500);
    expect(problem.type).toBe("/problems/internal_error");
    expect(JSON.stringify(problem)).not.toContain("secret internal detail");
  });
});

describe("security headers", () => {
  const cases: [string, () => Promise<Response> | Response][] = [
    ["200", () => api("/health")],
    ["404", () => api("/nowhere")],
    ["405", () => api("/health", { method: "PUT" })],
    ["400", () => api("/documents/nope")],
    ["409", () => request("/teapot")],
    ["500", () => request("/boom")],
    ["html docs", () => api("/docs")],
    ["web app page", () => api("/library/a")],
  ];
  it.each(cases)("are exactly the documented four on a %s response", async (_, send) => {
    const res = await send();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(res.headers.get(name)).toBe(value);
  });
});

describe("request id", () => {
  it("generates one when none is sent and echoes it", async () => {
    const res = await api("/health");
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("generates its own even when the client sends one (kept aside as clientRequestId), also in problems", async () => {
    const res = await api("/nowhere", { headers: { "X-Request-ID": "client-abc_123" } });
    const ours = res.headers.get("x-request-id");
    expect(ours).toMatch(/^[0-9a-f-]{36}$/);
    expect((await expectProblem(res, 404)).requestId).toBe(ours);
  });

  it.each([
    ["with spaces", "a b"],
    ["with a newline", "a\\nb"],
    ["too long", "x".repeat(256)],
    ["with markup", "<script>"],
  ])("replaces an invalid one (%s)", async (_, value) => {
    const res = await api("/health", { headers: { "X-Request-ID": value } });
    const echoed = res.headers.get("x-request-id");
    expect(echoed).not.toBe(value);
    expect(echoed).toMatch(/^[0-9a-f-]{36}$/);
  });
});
