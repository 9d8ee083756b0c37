import { describe, expect, it } from "vitest";
import { buildApp } from "../../workers/api/app.ts";
import { signedIn, signedInAdmin } from "../auth-helpers.ts";
import { api, expectProblem } from "../helpers.ts";

interface OpenApiDoc {
  paths: Record<string, Record<string, unknown>>;
}

/** The methods a test tries on every path: RFC 9110's, less CONNECT, OPTIONS (CORS) and TRACE. */
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];
/** Stands in for every path parameter: a well-formed id, so only routing can refuse the request. */
const SAMPLE_PARAMETER = "0b5a4c7e-8f2d-4e1a-9c3b-6d7e8f9a0b1c";
/**
 * RFC 6749 §5.2: the token endpoint's errors are `application/json` (the problem members stay), and
 * so are those of the endpoints answering in its error format: revocation (RFC 7009 §2.2.1),
 * introspection (RFC 7662 §2.3) and device authorization (RFC 8628 §3.2).
 */
const OAUTH_JSON_ENDPOINTS = new Set(["/auth/token", "/auth/revoke", "/auth/introspect", "/auth/device_authorization"]);

/** Every documented path with the methods its operations serve (HEAD with GET, RFC 9110 §9.3.2). */
async function documentedResources(): Promise<{ path: string; sample: string; allow: string[] }[]> {
  const doc = (await (await api("/openapi.json")).json()) as OpenApiDoc;
  return Object.entries(doc.paths).map(([path, item]) => {
    const methods = Object.keys(item).map((method) => method.toUpperCase());
    return {
      path,
      sample: path.replace(/\{[^}]+\}/g, SAMPLE_PARAMETER),
      allow: methods.includes("GET") ? [...methods, "HEAD"] : methods,
    };
  });
}

/** A pattern matching the paths a route template matches; `parameter` finds its parameters. */
function templatePattern(template: string, parameter: RegExp): RegExp {
  const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^${template.split(parameter).map(literal).join("[^/]+")}$`);
}

const allowOf = (res: Response) => (res.headers.get("allow") ?? "").split(/,\s*/).filter(Boolean).sort();

/** 405 with exactly `allow` in Allow, and (but for HEAD) a method_not_allowed problem with the request id. */
async function expectMethodNotAllowed(res: Response, method: string, path: string, allow: readonly string[]) {
  const label = `${method} ${path}`;
  expect(res.status, label).toBe(405);
  expect(allowOf(res), label).toEqual([...allow].sort());
  if (method === "HEAD") return;
  if (OAUTH_JSON_ENDPOINTS.has(path)) {
    expect(res.headers.get("content-type"), label).toBe("application/json");
    const body = (await res.json()) as { type: string; status: number; requestId: string };
    expect(body, label).toMatchObject({ type: "/problems/method_not_allowed", status: 405 });
    expect(body.requestId, label).toBe(res.headers.get("x-request-id"));
    return;
  }
  const problem = await expectProblem(res, 405);
  expect(problem.type, label).toBe("/problems/method_not_allowed");
}

describe("405 Method Not Allowed", () => {
  it("answers every documented path, for each method none of its operations serve, with exactly its methods in Allow", async () => {
    const resources = await documentedResources();
    const probes = resources.flatMap(({ path, sample, allow }) =>
      METHODS.filter((method) => !allow.includes(method)).map((method) => ({ path, sample, allow, method })),
    );
    expect(probes.length).toBeGreaterThan(resources.length);
    // A few at a time: each goes through the whole gateway.
    for (let i = 0; i < probes.length; i += 8) {
      await Promise.all(
        probes.slice(i, i + 8).map(async ({ path, sample, allow, method }) => {
          const res = await api(sample, { method });
          await expectMethodNotAllowed(res, method, path, allow);
        }),
      );
    }
  });

  it("answers a concrete path from its own methods, never from a templated path that also matches it", async () => {
    const resources = await documentedResources();
    const concrete = new Map(resources.map((resource) => [resource.path, resource]));
    // Documented paths that a templated path (e.g. /users/{id}) also matches: /users/me.
    const shadowed = resources.filter(({ path }) =>
      resources.some(
        (other) =>
          other.path !== path && other.path.includes("{") && templatePattern(other.path, /\{[^}]+\}/).test(path),
      ),
    );
    expect(shadowed.map(({ path }) => path)).toContain("/users/me");
    const { auth } = await signedInAdmin();
    for (const { path, allow } of shadowed) {
      for (const method of METHODS.filter((m) => !allow.includes(m))) {
        const res = await api(path, { method, headers: auth });
        await expectMethodNotAllowed(res, method, path, concrete.get(path)?.allow ?? []);
      }
    }
  });

  it("PUT /users/me is 405 with Allow: GET, HEAD, PATCH, DELETE, and the account stays", async () => {
    const { auth, user } = await signedIn();
    const res = await api("/users/me", { method: "PUT", headers: auth });
    await expectMethodNotAllowed(res, "PUT", "/users/me", ["DELETE", "GET", "HEAD", "PATCH"]);
    const me = await api("/users/me", { headers: auth });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { id: string }).id).toBe(user.id);
  });

  it("still answers an unknown path with 404", async () => {
    await expectProblem(await api("/users/me/nowhere", { method: "DELETE" }), 404);
  });
});

describe("route order", () => {
  // Hono runs the first registered route that matches; a concrete route registered after a
  // templated one with the same method would never be reached for that method.
  it("registers every concrete route before the templated routes of the same method that match its path", () => {
    const routes = buildApp().routes.filter((route) => route.method !== "ALL");
    const misordered = routes.flatMap((later, i) =>
      routes
        .slice(0, i)
        .filter(
          (earlier) =>
            earlier.method === later.method &&
            earlier.path !== later.path &&
            earlier.path.includes(":") &&
            !later.path.includes(":") &&
            templatePattern(earlier.path, /:[^/]+/).test(later.path),
        )
        .map((earlier) => `${later.method} ${later.path} after ${earlier.path}`),
    );
    expect(misordered).toEqual([]);
    // The check sees the pair it guards.
    expect(routes.findIndex((r) => r.method === "GET" && r.path === "/users/me")).toBeLessThan(
      routes.findIndex((r) => r.method === "GET" && r.path === "/users/:id"),
    );
  });
});
