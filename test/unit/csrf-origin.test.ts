import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import type { AppEnv, Services } from "../../src/app/context.ts";

import { checkCsrf } from "../../src/routes/auth/csrf.ts";

const TOKEN = "a".repeat(43);

/**
 * A sign-in form's post as the worker sees it under a multi-worker `wrangler dev` session: the
 * request's URL rewritten to the route's host (`api.techcorp.example`, wrangler.toml `routes`),
 * the browser's `Origin` left as the browser sent it, and `PUBLIC_URL` the local address.
 */
async function formPost(origin: string | undefined): Promise<Response> {
  const app = new Hono<AppEnv>();
  app.use(async (c, next) => {
    c.set("services", { config: { publicUrl: "http://localhost:8787" } } as unknown as Services);
    await next();
  });
  app.post("/auth/authorize", (c) => {
    try {
      checkCsrf(c, TOKEN);
      return c.body(null, 204);
    } catch {
      return c.body(null, 403);
    }
  });
  const headers = new Headers({ cookie: `__Host-techcorp-csrf=${TOKEN}` });
  if (origin) headers.set("origin", origin);
  return await app.request("http://api.techcorp.example/auth/authorize", { method: "POST", headers });
}

describe("the sign-in forms' Origin check (checkCsrf)", () => {
  it("accepts a post from PUBLIC_URL's origin or the request's own, and one without Origin", async () => {
    expect((await formPost("http://localhost:8787")).status).toBe(204);
    expect((await formPost("http://api.techcorp.example")).status).toBe(204);
    expect((await formPost(undefined)).status).toBe(204);
  });

  it("refuses a post from any other origin, a look-alike included", async () => {
    for (const origin of ["https://evil.example", "http://localhost:8788", "https://localhost:8787", "null"]) {
      expect((await formPost(origin)).status).toBe(403);
    }
  });
});
