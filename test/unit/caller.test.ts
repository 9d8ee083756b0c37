import { createRoute, z } from "@hono/zod-openapi";
import { requestId } from "hono/request-id";
import { describe, expect, it } from "vitest";
import type { AuthContext } from "../../src/app/context.ts";
import { createRouter } from "../../src/app/create-app.ts";
import { asCaller } from "../../src/app/database.ts";
import { onError } from "../../src/app/error-handler.ts";
import { InvalidTokenError } from "../../src/auth/tokens.ts";
import { callerOf, REALM } from "../../src/gateway/authentication.ts";

const caller: AuthContext = {
  userId: "user-1",
  sessionId: "session-1",
  role: "user",
  permissions: [],
  actor: { kind: "user", userId: "user-1", role: "user", permissions: [] },
  data: { read: true, write: true },
  requiredActions: [],
  authenticatedAt: 0,
};

// Routes declared WITHOUT a guard (plain `createRoute`, not `protectedRoute`): reading the caller is
// what must refuse an anonymous request, with the guard's 401, not a 500 from reading `undefined`.
const whoRoute = createRoute({
  method: "get",
  path: "/who",
  responses: { 200: { description: "The caller", content: { "application/json": { schema: z.object({}) } } } },
});
const actorRoute = createRoute({
  method: "get",
  path: "/actor",
  responses: { 200: { description: "The caller's actor", content: { "application/json": { schema: z.object({}) } } } },
});

/** An app shell reduced to what these routes need: a request id, the error handler, and the caller if `auth` says so. */
function app(auth: { caller?: AuthContext; refused?: InvalidTokenError } = {}) {
  const router = createRouter();
  router.use(requestId({ headerName: "X-Request-ID" }));
  router.use(async (c, next) => {
    c.set("auth", auth.caller);
    if (auth.refused) c.set("authError", auth.refused);
    await next();
  });
  router.onError(onError);
  return router
    .openapi(whoRoute, (c) => c.json({ userId: callerOf(c).userId }, 200))
    .openapi(actorRoute, (c) => c.json({ actor: asCaller(c).actor }, 200));
}

describe("reading the caller", () => {
  for (const path of ["/who", "/actor"]) {
    it(`refuses an anonymous request on an unguarded route with the guard's 401 (${path})`, async () => {
      const response = await app().request(path);
      expect(response.status).toBe(401);
      expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      expect(response.headers.get("www-authenticate")).toBe(`Bearer realm="${REALM}"`);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ status: 401, requestId: response.headers.get("x-request-id") });
    });
  }

  it("names why a presented token was refused (RFC 6750 §3: invalid_token)", async () => {
    const response = await app({ refused: new InvalidTokenError("the token has expired") }).request("/who");
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toMatch(
      new RegExp(`^Bearer realm="${REALM}", error="invalid_token", error_description="`),
    );
  });

  it("gives the authenticated caller to the handler", async () => {
    expect(await (await app({ caller }).request("/who")).json()).toEqual({ userId: "user-1" });
  });
});
