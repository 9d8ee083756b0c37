import { decodeJwt } from "jose";
import { describe, expect, it } from "vitest";
import { DEFAULT_POLICIES } from "../../src/gateway/rate-limit-policies.ts";
import { bearer, login, PASSWORD, register } from "../auth-helpers.ts";
import { api, apiWith, expectProblem } from "../helpers.ts";
import {
  Browser,
  pkceRequest,
  RESOURCE_SERVER,
  RESOURCE_SERVER_SECRET,
  redirectOf,
  signInThrough,
  WEB,
  WEB_REDIRECT,
} from "../oauth-helpers.ts";
import { expectJson } from "../project-helpers.ts";

// The data scopes `read` and `write` for OAuth sessions (authorization code, device grant): the
// same rule as API keys', one function deciding it for both (src/gateway/authentication.ts).

interface TokenJson {
  access_token: string;
  refresh_token: string;
  scope: string;
}

/**
 * A fresh user signed in through the web client's authorization code flow, asking `scope` (none:
 * the request names no scope, so the client's registered default applies).
 */
async function codeFlowTokens(scope: string | null): Promise<TokenJson> {
  const { user } = await register();
  const request = await pkceRequest(scope === null ? {} : { scope });
  if (scope === null) request.params.delete("scope");
  const res = await signInThrough(new Browser(), request.params, { username: user.username, password: PASSWORD });
  const code = redirectOf(res).searchParams.get("code") ?? "";
  const tokens = await api("/auth/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: WEB_REDIRECT,
      code_verifier: request.verifier,
      client_id: WEB.id,
    }).toString(),
  });
  return expectJson<TokenJson>(tokens, 200);
}

const upload = (headers: Record<string, string>) =>
  api("/documents?title=Scoped", {
    method: "POST",
    headers: { ...headers, "content-type": "text/plain" },
    body: "a document",
  });

/** The 403 of a missing data scope: `insufficient_scope` naming it (RFC 6750 §3.1), as for API keys. */
async function expectMissingScope(res: Response, scope: "read" | "write") {
  const problem = await expectProblem(res, 403);
  expect(problem.detail).toBe(`This needs the "${scope}" scope.`);
  expect(res.headers.get("www-authenticate")).toMatch(new RegExp(`error="insufficient_scope".*scope="${scope}"$`));
}

async function introspect(token: string): Promise<Record<string, unknown>> {
  const res = await api("/auth/introspect", {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${btoa(`${RESOURCE_SERVER.id}:${RESOURCE_SERVER_SECRET}`)}`,
    },
    body: new URLSearchParams({ token }).toString(),
  });
  return expectJson<Record<string, unknown>>(res, 200);
}

describe("OAuth sessions act on data only within their scopes", () => {
  it("a token granted only openid reads no document (read) and writes none (write)", async () => {
    const tokens = await codeFlowTokens("openid");
    expect(tokens.scope).toBe("openid");
    await expectMissingScope(await api("/documents", { headers: bearer(tokens.access_token) }), "read");
    await expectMissingScope(await upload(bearer(tokens.access_token)), "write");
    // HEAD is a read too (RFC 9110 §9.3.2): refused the same way, without a body.
    const head = await api("/documents", { method: "HEAD", headers: bearer(tokens.access_token) });
    expect(head.status).toBe(403);
    expect(head.headers.get("www-authenticate")).toMatch(/scope="read"$/);
  });

  it("a token granted read reads, but changes nothing", async () => {
    const tokens = await codeFlowTokens("openid read");
    expect(tokens.scope).toBe("openid read");
    expect((await api("/documents", { headers: bearer(tokens.access_token) })).status).toBe(200);
    expect((await api("/users/me", { headers: bearer(tokens.access_token) })).status).toBe(200);
    await expectMissingScope(await upload(bearer(tokens.access_token)), "write");
    const patch = await api("/users/me", {
      method: "PATCH",
      headers: { ...bearer(tokens.access_token), "content-type": "application/merge-patch+json" },
      body: JSON.stringify({ displayName: "changed without write" }),
    });
    await expectMissingScope(patch, "write");
  });

  it("a token granted write reads and writes (write implies read, as for keys)", async () => {
    const tokens = await codeFlowTokens("openid write");
    expect((await upload(bearer(tokens.access_token))).status).toBe(201);
    expect((await api("/documents", { headers: bearer(tokens.access_token) })).status).toBe(200);
  });

  it("the scopes outlive a refresh: the refreshed token is no broader", async () => {
    const tokens = await codeFlowTokens("openid read");
    const refreshed = await expectJson<TokenJson>(
      await api("/auth/token", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "refresh_token",
          refresh_token: tokens.refresh_token,
          client_id: WEB.id,
        }).toString(),
      }),
      200,
    );
    expect(decodeJwt(refreshed.access_token).scope).toBe("openid read");
    await expectMissingScope(await upload(bearer(refreshed.access_token)), "write");
  });

  it("logging out and userinfo need no data scope", async () => {
    const tokens = await codeFlowTokens("openid");
    expect((await api("/auth/userinfo", { headers: bearer(tokens.access_token) })).status).toBe(200);
    expect((await api("/auth/logout", { method: "POST", headers: bearer(tokens.access_token) })).status).toBe(204);
    await expectProblem(await api("/auth/userinfo", { headers: bearer(tokens.access_token) }), 401);
  });

  it("a request naming no scope gets the client's registered default scopes (RFC 6749 §3.3)", async () => {
    const tokens = await codeFlowTokens(null);
    expect(tokens.scope).toBe(WEB.defaultScopes.join(" "));
    expect((await upload(bearer(tokens.access_token))).status).toBe(201);
  });

  it("the password grant (first-party, no scope asked) still does everything, and its token says read write", async () => {
    const { user } = await register();
    const tokens = await login(user.username);
    expect(tokens.scope).toBe("read write");
    expect((await upload(bearer(tokens.access_token))).status).toBe(201);
    expect((await api("/documents", { headers: bearer(tokens.access_token) })).status).toBe(200);
    expect(await introspect(tokens.access_token)).toMatchObject({ active: true, scope: "read write" });
  });

  it("introspection reports the granted scope, for the access and the refresh token", async () => {
    const tokens = await codeFlowTokens("openid read");
    expect(await introspect(tokens.access_token)).toMatchObject({ active: true, scope: "openid read" });
    expect(await introspect(tokens.refresh_token)).toMatchObject({ active: true, scope: "openid read" });
  });

  it("discovery lists read and write among scopes_supported", async () => {
    for (const path of ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]) {
      const metadata = await expectJson<{ scopes_supported: string[] }>(await api(path), 200);
      expect(metadata.scopes_supported, path).toEqual(expect.arrayContaining(["openid", "read", "write"]));
    }
  });
});

describe("security: every protected operation names the scope it needs, and enforces it", () => {
  it("an openid-only session is refused exactly the operations whose bearerAuth requirement names read or write", async () => {
    const narrow = await codeFlowTokens("openid");
    const broad = await codeFlowTokens("openid read write");
    // Generous windows for every policy: this walk sends two requests per operation.
    const roomy = Object.fromEntries(
      Object.keys(DEFAULT_POLICIES).map((name) => [name, [{ name: "burst", limit: 10_000, windowSeconds: 60 }]]),
    );
    const bindings = { RATE_LIMIT_POLICIES: JSON.stringify(roomy) } as Partial<Env> & object;
    type Operation = { security?: Record<string, string[]>[] };
    const doc = await expectJson<{ paths: Record<string, Record<string, Operation>> }>(await api("/openapi.json"), 200);
    // What ends the sessions or the account is sent last (logout), or not with the broad token.
    const ending = ["POST /auth/logout", "DELETE /auth/sessions", "DELETE /users/me"];
    const walk = Object.entries(doc.paths)
      .flatMap(([template, operations]) =>
        Object.entries(operations).map(([method, operation]) => ({
          name: `${method.toUpperCase()} ${template}`,
          template,
          method,
          operation,
        })),
      )
      .sort((a, b) => Number(a.name === ending[0]) - Number(b.name === ending[0]));
    const noDataScope: string[] = [];
    let checked = 0;
    for (const { name, template, method, operation } of walk) {
      const requirement = operation.security?.find((entry) => "bearerAuth" in entry)?.bearerAuth;
      // `/ready` takes a token optionally: not a protected operation.
      if (!requirement || operation.security?.some((entry) => Object.keys(entry).length === 0)) continue;
      const path = template.replace(/\{(\w+)\}/g, (_, param: string) =>
        param === "permission" ? "users:read" : ["version", "partNumber"].includes(param) ? "1" : crypto.randomUUID(),
      );
      const send = (token: string) => {
        const write = method !== "get" && method !== "head";
        return apiWith(bindings, path, {
          method: method.toUpperCase(),
          headers: { ...bearer(token), ...(write ? { "content-type": "application/json" } : {}) },
          ...(write ? { body: "{}" } : {}),
        });
      };
      const [dataScope] = requirement.filter((scope) => scope === "read" || scope === "write");
      const refused = await send(narrow.access_token);
      expect(refused.status, name).toBeLessThan(500);
      const challenge = refused.headers.get("www-authenticate") ?? "";
      if (dataScope) {
        expect(dataScope, name).toBe(method === "get" ? "read" : "write");
        expect(refused.status, name).toBe(403);
        expect(challenge, name).toMatch(new RegExp(`error="insufficient_scope".*scope="${dataScope}"$`));
      } else {
        // A permission's or the admin role's operation, or one declared withoutDataScope.
        expect(challenge, name).not.toMatch(/scope="(read|write)"/);
        if (requirement.length === 0) noDataScope.push(name);
      }
      if (!ending.includes(name)) {
        // With read and write, no operation is refused for a data scope.
        const allowed = await send(broad.access_token);
        expect(allowed.status, name).toBeLessThan(500);
        expect(allowed.headers.get("www-authenticate") ?? "", name).not.toMatch(/scope="(read|write)"/);
      }
      checked++;
    }
    expect(checked).toBeGreaterThan(50);
    expect(noDataScope.sort()).toEqual(["GET /auth/userinfo", "POST /auth/logout", "POST /auth/userinfo"]);
  });
});
