import { describe, expect, inject, it } from "vitest";
import { SECURITY_HEADERS } from "../../src/gateway/security-headers.ts";

// How Cloudflare's asset layer and the API worker share the paths (wrangler.toml [assets],
// `run_worker_first = ["/*", "!/assets/*"]`), as `wrangler dev` routes them: files under /assets/
// come from the asset layer alone; everything else reaches the worker first. A response of the
// worker carries its X-Request-ID; one of the asset layer does not.

const base = inject("apiUrl");

const scriptOf = async (path: string) => {
  const html = await (await fetch(`${base}${path}`)).text();
  const src = /<script type="module" crossorigin src="([^"]+)"/.exec(html)?.[1];
  if (!src) throw new Error(`${path} names no module script`);
  return src;
};

const expectSecurityHeaders = (response: Response) => {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(response.headers.get(name), name).toBe(value);
};

describe("the asset layer and the worker", () => {
  it("serve a hashed bundle from the asset layer, with the security headers, revalidated by ETag", async () => {
    const url = `${base}${await scriptOf("/")}`;
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^(text|application)\/javascript/);
    expect(response.headers.get("x-request-id")).toBeNull();
    expectSecurityHeaders(response);
    // Not cached for good (web/build/asset-headers.ts says why): a revalidation is a 304.
    expect(response.headers.get("cache-control") ?? "").not.toContain("immutable");
    const etag = response.headers.get("etag");
    expect(etag).toBeTruthy();
    await response.body?.cancel();
    const again = await fetch(url, { headers: { "if-none-match": etag ?? "" } });
    expect(again.status).toBe(304);
  });

  it("serve the app's pages and /docs from the worker, with its headers", async () => {
    for (const path of ["/", "/sign-in", "/admin/users", "/docs"]) {
      const response = await fetch(`${base}${path}`);
      expect(response.status, path).toBe(200);
      expect(response.headers.get("content-type"), path).toMatch(/^text\/html/);
      expect(response.headers.get("x-request-id"), path).toMatch(/^[0-9a-f-]{36}$/);
      expectSecurityHeaders(response);
      await response.body?.cancel();
    }
  });

  it("leave no built file reachable outside /assets/: the pages' HTML files and _headers are 404 problems", async () => {
    for (const path of ["/index.html", "/docs/index.html", "/docs/", "/_headers"]) {
      const response = await fetch(`${base}${path}`);
      expect(response.status, path).toBe(404);
      expect(response.headers.get("content-type"), path).toBe("application/problem+json");
      await response.body?.cancel();
    }
  });

  it("answer a missing file under /assets/ from the asset layer: a bare 404, the worker not run", async () => {
    // The router sends every path of a negated pattern to the asset layer, found or not.
    const response = await fetch(`${base}/assets/nothing-here.js`);
    expect(response.status).toBe(404);
    expect(response.headers.get("x-request-id")).toBeNull();
    expectSecurityHeaders(response);
    await response.body?.cancel();
  });

  it("keep API paths the worker's: JSON from /health", async () => {
    const response = await fetch(`${base}/health`);
    expect(await response.json()).toEqual({ status: "ok" });
  });
});
