import { TrieRouter } from "hono/router/trie-router";
import { describe, expect, it } from "vitest";
import { SECURITY_HEADERS } from "../../src/gateway/security-headers.ts";
import { WEB_APP_PAGES } from "../../src/routes/web-app/pages.ts";
import { randomIp } from "../auth-helpers.ts";
import { api, apiWith, expectProblem, testEnv } from "../helpers.ts";

// The web app's pages (src/routes/web-app), served by the worker from the build in dist/web
// (wrangler.toml [assets], built by the project's global setup). The asset layer's own routing
// (`run_worker_first`) is not in play here, where requests reach the worker directly:
// test/browser/asset-routing.test.ts checks it against `wrangler dev`.

/** A concrete path for each page pattern: `/library/*` becomes `/library/a/b`. */
const concrete = (page: string) => page.replace("*", "a/b");

const expectSecurityHeaders = (response: Response) => {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(response.headers.get(name), name).toBe(value);
};

/** The same-origin files a built page loads: its module scripts, stylesheets, icons and manifest. */
function loadedFiles(html: string): string[] {
  return [...html.matchAll(/<(?:script|link)\b[^>]*?\s(?:src|href)="([^"]+)"/g)].map(([, url = ""]) => url);
}

describe("the web app's pages", () => {
  it.each(WEB_APP_PAGES.map(concrete))("%s answers the app's shell, with the security headers", async (path) => {
    const response = await api(path);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    expectSecurityHeaders(response);
    expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const html = await response.text();
    expect(html).toContain('<div id="app">');
    expect(html).toMatch(/<script type="module" crossorigin src="\/assets\/app-[\w-]+\.js"><\/script>/);
  });

  it("answers HEAD with the headers and no body", async () => {
    const response = await api("/library", { method: "HEAD" });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await response.text()).toBe("");
  });

  it("answers a revalidation with 304 when the shell has not changed", async () => {
    const etag = (await api("/")).headers.get("etag");
    expect(etag).toBeTruthy();
    const response = await api("/inbox", { headers: { "if-none-match": etag ?? "" } });
    expect(response.status).toBe(304);
    expectSecurityHeaders(response);
  });

  it("loads only files of its own origin, under /assets/, each of them built", async () => {
    for (const page of ["/", "/docs"]) {
      const html = await (await api(page)).text();
      expect(html, page).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
      expect(html, page).not.toMatch(/<style|\sstyle=/);
      const files = loadedFiles(html);
      expect(files.length, page).toBeGreaterThanOrEqual(2);
      for (const file of files) {
        expect(file, page).toMatch(/^\/assets\/[\w.-]+$/);
        // Through the binding: the worker itself serves nothing under /assets/.
        const asset = await testEnv.ASSETS.fetch(`http://api.test${file}`);
        expect(asset.status, file).toBe(200);
        await asset.body?.cancel();
      }
    }
  });

  it("are not rate-limited: a page costs no Durable Object call", async () => {
    const bindings = { RATE_LIMIT_POLICIES: JSON.stringify({ api: [{ name: "burst", limit: 1, windowSeconds: 60 }] }) };
    const ip = { "cf-connecting-ip": randomIp() };
    for (let i = 0; i < 3; i++) expect((await apiWith(bindings, "/settings", { headers: ip })).status).toBe(200);
    // The same caller's API requests are still counted.
    await apiWith(bindings, "/openapi.json", { headers: ip });
    await expectProblem(await apiWith(bindings, "/openapi.json", { headers: ip }), 429);
  });

  it("answer other methods with 405 and Allow: GET, HEAD", async () => {
    const response = await api("/library", { method: "POST" });
    await expectProblem(response, 405);
    expect(response.headers.get("allow")).toBe("GET, HEAD");
  });

  it("name no path of the OpenAPI document", async () => {
    const document = (await (await api("/openapi.json")).json()) as { paths: Record<string, unknown> };
    const apiPaths = Object.keys(document.paths);
    // Both ways: a page pattern against each API path made concrete, each API template against
    // each page made concrete.
    const pages = new TrieRouter<string>();
    for (const page of WEB_APP_PAGES) pages.add("GET", page, page);
    const templates = new TrieRouter<string>();
    for (const path of apiPaths) templates.add("GET", path.replace(/\{(\w+)\}/g, ":$1"), path);
    const clashes = [
      ...apiPaths.flatMap((path) =>
        pages.match("GET", path.replace(/\{\w+\}/g, "x"))[0].map(([page]) => `${page} matches ${path}`),
      ),
      ...WEB_APP_PAGES.flatMap((page) =>
        templates.match("GET", concrete(page))[0].map(([path]) => `${path} matches ${page}`),
      ),
    ];
    expect(apiPaths.length).toBeGreaterThan(50);
    expect(clashes).toEqual([]);
  });
});

describe("paths that are neither a page nor an API route", () => {
  it.each(["/nowhere", "/libraryx", "/index.html", "/docs/index.html", "/assets/nothing-here.js", "/sign-in/more"])(
    "%s is still the API's problem+json 404",
    async (path) => {
      const response = await api(path);
      const problem = await expectProblem(response, 404);
      expect(problem.type).toBe("/problems/not_found");
      expectSecurityHeaders(response);
    },
  );

  it("an API path still answers JSON", async () => {
    const response = await api("/health");
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await response.json()).toEqual({ status: "ok" });
  });
});
