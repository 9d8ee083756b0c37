import { Hono } from "hono";

// The benchmark's baseline: the same framework and runtime with no middleware.
const app = new Hono()
  .get("/bare", (c) => c.json({ status: "ok" }))
  // Reads a request body to the end and throws it away: what moving bytes into workerd costs.
  .post("/bare/drain", async (c) => {
    let bytes = 0;
    const reader = c.req.raw.body?.getReader();
    for (let next = await reader?.read(); next && !next.done; next = await reader?.read()) bytes += next.value.length;
    return c.json({ bytes });
  });

// Default export: the Workers runtime calls `fetch()` on it.
export default app;
