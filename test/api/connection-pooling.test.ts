import { describe, expect, it } from "vitest";
import { randomIp, signedIn } from "../auth-helpers.ts";
import { apiWith } from "../helpers.ts";

// The stack puts PgBouncer in transaction mode in front of Postgres, as Neon's pooled endpoint does
// (stack/pgbouncer.ts): a burst shares the pool's backends instead of opening one per request, and
// Postgres's connection slots (100) never run out.
describe("a burst of authenticated requests from one user", () => {
  it("150 concurrent GET /users/me against a limit of 100: 100 answered, 50 refused, no 5xx", async () => {
    const { auth } = await signedIn();
    const bindings = {
      RATE_LIMIT_POLICIES: JSON.stringify({ api: [{ name: "burst", limit: 100, windowSeconds: 60 }] }),
    };
    const responses = await Promise.all(
      Array.from({ length: 150 }, () =>
        apiWith(bindings, "/users/me", { headers: { ...auth, "cf-connecting-ip": randomIp() } }),
      ),
    );
    const statuses = responses.map((res) => res.status);
    await Promise.all(responses.map((res) => res.body?.cancel()));
    const count = (predicate: (status: number) => boolean) => statuses.filter(predicate).length;
    expect({ ok: count((s) => s === 200), limited: count((s) => s === 429), failed: count((s) => s >= 500) }).toEqual({
      ok: 100,
      limited: 50,
      failed: 0,
    });
  });
});
