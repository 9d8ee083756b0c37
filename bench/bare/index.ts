import { Hono } from "hono";
import { createPasswordHasher, type PasswordHasher } from "../../src/auth/password-hasher.ts";

/** Declared in wrangler.toml; the benchmark passes the API's own value. */
type Bindings = { PBKDF2_ITERATIONS: string };

const PASSWORD = "benchmark password 1";
let hashed: { hasher: PasswordHasher; stored: string } | undefined;

/** The API's hasher at the API's iteration count, and one stored hash to verify against (per isolate). */
async function storedHash(iterations: number): Promise<{ hasher: PasswordHasher; stored: string }> {
  if (hashed?.hasher.iterations !== iterations) {
    const hasher = createPasswordHasher({ iterations });
    hashed = { hasher, stored: await hasher.hash(PASSWORD) };
  }
  return hashed;
}

// The benchmark's baselines: the same framework and runtime with no middleware.
const app = new Hono<{ Bindings: Bindings }>()
  .get("/bare", (c) => c.json({ status: "ok" }))
  // Reads a request body to the end and throws it away: what moving bytes into workerd costs.
  .post("/bare/drain", async (c) => {
    let bytes = 0;
    const reader = c.req.raw.body?.getReader();
    for (let next = await reader?.read(); next && !next.done; next = await reader?.read()) bytes += next.value.length;
    return c.json({ bytes });
  })
  // One password verification, exactly as the password grant does it (src/auth/password-hasher.ts):
  // the physical limit of POST /auth/token.
  .post("/bare/pbkdf2", async (c) => {
    const { hasher, stored } = await storedHash(Number(c.env.PBKDF2_ITERATIONS));
    const check = await hasher.verify(PASSWORD, stored);
    return c.json({ valid: check.valid });
  });

// Default export: the Workers runtime calls `fetch()` on it.
export default app;
