import { createRoute, type z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { tokenManager } from "../../auth/tokens.ts";
import { jsonResponse } from "../openapi.ts";
import { CACHE, JwksSchema } from "./schemas.ts";

const route = createRoute({
  method: "get",
  path: "/.well-known/jwks.json",
  tags: ["Auth"],
  summary: "Public keys that verify our access tokens",
  description: "The current signing key and the previous one, so tokens signed just before a rotation still verify.",
  responses: { 200: jsonResponse("JSON Web Key Set.", JwksSchema) },
});

export const serveJwks = createRouter().openapi(route, async (c) => {
  const tokens = await tokenManager(c.get("services").config.auth.tokens);
  return c.json(tokens.publicJwks() as z.infer<typeof JwksSchema>, 200, CACHE);
});
