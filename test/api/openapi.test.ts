import { hc } from "hono/client";
import { describe, expect, it } from "vitest";
import { PROBLEMS } from "../../src/pkg/errors/api-error.ts";
import { WEB_APP_PAGES } from "../../src/routes/web-app/pages.ts";
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
    // The web app's pages are served beside the API, not operations of it (test/api/web-app.test.ts).
    const pages = new Set<string>(WEB_APP_PAGES);
    const served = buildApp()
      .routes.filter((route) => route.method !== "ALL" && !(route.method === "GET" && pages.has(route.path)))
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
  it("is Swagger UI built into same-origin files, reading /openapi.json", async () => {
    const res = await api("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    // Its script and stylesheet are files under /assets/ (web/docs, built by Vite): nothing inline,
    // so `default-src 'self'` holds. test/browser/docs.test.ts renders it in Chromium.
    expect(html).toMatch(/<script type="module" crossorigin src="\/assets\/docs-[\w-]+\.js"><\/script>/);
    expect(html).toMatch(/<link rel="stylesheet" crossorigin href="\/assets\/docs-[\w-]+\.css">/);
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>|<style|\sstyle=/);
    expect(html).toContain('href="/openapi.json"');
  });

  it("has no stylesheet of its own any more (the server-rendered page's)", async () => {
    await expectProblem(await api("/docs/style.css"), 404);
  });

  it("lists every problem type in the description of GET /problems/{code}", async () => {
    const doc = (await fetchDoc()) as unknown as { paths: Record<string, { get: { description: string } }> };
    const description = doc.paths["/problems/{code}"]?.get.description ?? "";
    for (const code of Object.keys(PROBLEMS)) expect(description).toContain(`| \`${code}\` |`);
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
