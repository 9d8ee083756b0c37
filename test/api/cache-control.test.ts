import { describe, expect, it } from "vitest";
import { signedIn } from "../auth-helpers.ts";
import { api } from "../helpers.ts";

// OWASP API8:2023 / ASVS V8.2.1: a response made for one caller is never stored by a shared cache
// or kept on disk by a browser. Resources with validators stay revalidatable (`private, no-cache`).
describe("Cache-Control on responses made for a caller", () => {
  it("is no-store on an authenticated JSON response without validators", async () => {
    const { auth } = await signedIn();
    const res = await api("/auth/sessions", { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("keeps private, no-cache where the route gives validators (the caller's own profile)", async () => {
    const { auth } = await signedIn();
    const res = await api("/users/me", { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get("etag")).toBeTruthy();
    expect(res.headers.get("cache-control")).toBe("private, no-cache");
  });

  it("is no-store on errors answered to a caller with credentials, a refused token included", async () => {
    const { auth } = await signedIn();
    const missing = await api(`/documents/${crypto.randomUUID()}`, { headers: auth });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("cache-control")).toBe("no-store");

    const refused = await api("/users/me", { headers: { authorization: "Bearer not.a.token" } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("cache-control")).toBe("no-store");
  });

  it("is no-store on search results, which differ per caller", async () => {
    const { auth } = await signedIn();
    const res = await api("/search?q=report", { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("leaves anonymous public responses to their routes (the discovery document stays cacheable)", async () => {
    const res = await api("/.well-known/jwks.json");
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("public, max-age=300");
  });
});
