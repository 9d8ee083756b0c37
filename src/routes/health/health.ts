import { createRouter } from "../../app/create-app.ts";
import { jsonResponse, publicRoute } from "../openapi.ts";
import { HealthSchema } from "./schemas.ts";

// The liveness probe touches nothing and must always reach the worker: not counted.
const route = publicRoute(false, {
  method: "get",
  path: "/health",
  tags: ["System"],
  summary: "Liveness: the worker runs",
  description: "Touches no dependency; use `/ready` to check them.",
  responses: { 200: jsonResponse("The worker is alive.", HealthSchema) },
});

export const checkHealth = createRouter().openapi(route, (c) => c.json({ status: "ok" as const }, 200));
