import { hc } from "hono/client";
import { describe, expect, it } from "vitest";
import { PROBLEMS } from "../../src/pkg/errors/api-error.ts";
import { type AppType, buildApp } from "../../workers/api/app.ts";
import { api, expectProblem } from "../helpers.ts";

interface OpenApiDoc {
  openapi: string;
  info: { title: string };
  paths: Record<
    string,
    Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>
  >;
}

const fetchDoc = async () => (await (await api("/openapi.json")).json()) as OpenApiDoc;

describe("OpenAPI document", () => {
  it("is OpenAPI 3.1", async () => {
    const doc = await fetchDoc();
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.info.title).toBe("TechCorp Platform API");
  });

  it("documents every route the app serves, and nothing it does not", async () => {
    const doc = await fetchDoc();
    const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const served = buildApp()
      .routes.filter((route) => route.method !== "ALL")
      .map((route) => `${route.method} ${route.path.replace(/:(\w+)/g, "{$1}")}`);
    expect(new Set(served)).toEqual(new Set(documented));
  });

  it("gives every operation a success (or redirect) response, and problem schemas for errors", async () => {
    const doc = await fetchDoc();
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        const statuses = Object.keys(operation.responses);
        const success = statuses.find((s) => s.startsWith("2") || s.startsWith("3"));
        expect(success, `${method} ${path}`).toBeDefined();
        // The OAuth endpoints send their problems as application/json (RFC 6749 §5.2), 503 included.
        const oauth = ["/auth/token", "/auth/revoke", "/auth/introspect", "/auth/device_authorization"].some(
          (endpoint) => `${method} ${path}` === `post ${endpoint}`,
        );
        for (const status of statuses.filter((s) => Number(s) >= 400 && (oauth || Number(s) !== 503))) {
          expect(operation.responses[status]?.content, `${method} ${path} ${status}`).toHaveProperty([
            oauth ? "application/json" : "application/problem+json",
          ]);
        }
      }
    }
  });

  it("declares the validating schemas of a route (document upload)", async () => {
    const upload = (await fetchDoc()).paths["/documents"]?.post as unknown as {
      parameters: { name: string; in: string }[];
      requestBody: { content: Record<string, { schema: { required?: string[] } }> };
      responses: Record<string, unknown>;
    };
    expect(upload.parameters.map((p) => `${p.in}:${p.name}`).sort()).toEqual([
      "query:projectId",
      "query:tags",
      "query:title",
    ]);
    expect(Object.keys(upload.requestBody.content).sort()).toEqual(["*/*", "multipart/form-data"]);
    expect(upload.requestBody.content["multipart/form-data"]?.schema.required).toEqual(["file"]);
    expect(Object.keys(upload.responses).sort()).toEqual([
      "201",
      "400",
      "401",
      "403",
      "404",
      "409",
      "413",
      "415",
      "429",
      "503",
    ]);
  });
});

describe("OAuth endpoints", () => {
  it("document both form-encoded and JSON bodies with one schema", async () => {
    const doc = (await fetchDoc()) as unknown as {
      paths: Record<string, { post: { requestBody: { content: Record<string, { schema: unknown }> } } }>;
    };
    for (const path of ["/auth/token", "/auth/refresh"]) {
      const content = doc.paths[path]?.post.requestBody.content ?? {};
      expect(Object.keys(content).sort()).toEqual(["application/json", "application/x-www-form-urlencoded"]);
      expect(content["application/x-www-form-urlencoded"]).toEqual(content["application/json"]);
    }
    expect(JSON.stringify(doc)).not.toContain("x-form-body");
  });
});

describe("reference page", () => {
  it("renders every documented operation as HTML without scripts", async () => {
    const [res, doc] = await Promise.all([api("/docs"), fetchDoc()]);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).not.toContain("<script");
    for (const path of Object.keys(doc.paths)) expect(html).toContain(`<code>${path}</code>`);
  });

  it("serves its stylesheet from the same origin", async () => {
    const res = await api("/docs/style.css");
    expect(res.headers.get("content-type")).toMatch(/^text\/css/);
  });
});

describe("problem types", () => {
  it("describes each problem type at its URI", async () => {
    for (const [code, problem] of Object.entries(PROBLEMS)) {
      const res = await api(`/problems/${code}`);
      expect(await res.json()).toEqual({ code, ...problem });
    }
  });

  it("404s an unknown problem type", async () => {
    await expectProblem(await api("/problems/nope"), 404);
  });
});

describe("typed client", () => {
  it("calls the API through hono/client with the app's types", async () => {
    const client = hc<AppType>("http://api.test", {
      fetch: (input: RequestInfo | URL, init?: RequestInit) => api(new URL(new Request(input).url).pathname, init),
    });
    const res = await client.health.$get();
    const body = await res.json();
    expect(body.status).toBe("ok");
  });
});
