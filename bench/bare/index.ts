import { Hono } from "hono";

// The benchmark's baseline: the same framework and runtime with one route and no middleware.
const app = new Hono().get("/bare", (c) => c.json({ status: "ok" }));

// Default export: the Workers runtime calls `fetch()` on it.
export default app;
