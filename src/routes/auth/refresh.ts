import { z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { refreshTokens } from "../../auth/auth-service.ts";
import { FORM_BODY, formAsJson } from "../../gateway/form-as-json.ts";
import { PROBLEM_CONTENT_TYPE, ProblemSchema, problemResponses } from "../../pkg/errors/problem.ts";
import { jsonBody, jsonResponse, publicRoute } from "../openapi.ts";
import { authDeps } from "./deps.ts";
import { NO_STORE, oauthValidationHook } from "./oauth.ts";
import { OAuthProblemSchema, RefreshRequestSchema, TokenResponseSchema } from "./schemas.ts";

/** Errors of `/auth/refresh`: problems (`application/problem+json`) that also carry OAuth codes. */
const oauthErrors = {
  400: {
    description:
      "`invalid_request` or `invalid_grant`; a body that is not JSON (or not a form) at all is a plain `bad_request` problem.",
    content: { [PROBLEM_CONTENT_TYPE]: { schema: z.union([OAuthProblemSchema, ProblemSchema]) } },
  },
};

// It takes refresh tokens, as the token endpoint does.
const route = publicRoute("token", {
  method: "post",
  path: "/auth/refresh",
  tags: ["Auth"],
  summary: "Refresh tokens (rotating the refresh token)",
  description:
    "Every use returns a new refresh token. Reusing a rotated one ends the whole session (reuse detection), except the one just replaced, which for 30 s returns the same new token so that two concurrent refreshes by one client do not log it out. A client address that keeps presenting wrong refresh tokens is slowed down as failed logins are (429 with Retry-After).",
  middleware: [formAsJson()] as const,
  [FORM_BODY]: true,
  request: { body: jsonBody(RefreshRequestSchema) },
  responses: {
    200: jsonResponse("New tokens.", TokenResponseSchema),
    ...oauthErrors,
    ...problemResponses(413, 415, 429, 503),
  },
});

export const rotateTokens = createRouter().openapi(
  route,
  async (c) => {
    const body = c.req.valid("json");
    return c.json(await refreshTokens(authDeps(c), { refreshToken: body.refresh_token }), 200, NO_STORE);
  },
  oauthValidationHook,
);
