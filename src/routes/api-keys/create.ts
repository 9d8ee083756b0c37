import { createRouter } from "../../app/create-app.ts";
import { accountLinks } from "../../auth/account-lifecycle.ts";
import { API_KEY_CREATION_MAX_AUTH_AGE_SECONDS, createApiKey } from "../../auth/api-keys.ts";
import { requireRecentAuthentication } from "../../gateway/authentication.ts";
import { enqueueMail } from "../../notifications/mail.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonBody, jsonResponse, protectedRoute } from "../openapi.ts";
import { requestOrigin } from "../request-origin.ts";
import { apiKeyDeps } from "./deps.ts";
import { CreateApiKeySchema, CreatedApiKeySchema, INTERACTIVE, toApiKeyJson } from "./schemas.ts";

const route = protectedRoute(
  "caller",
  {
    method: "post",
    path: "/api-keys",
    tags: ["API keys"],
    summary: "Create an API key (shown once)",
    description: `A personal access token, or with \`projectId\` a service key bound to one project of which the caller is a member. Needs a recent sign-in: a session signed in more than ${API_KEY_CREATION_MAX_AUTH_AGE_SECONDS} s ago gets 401 \`insufficient_user_authentication\` with \`max_age\` (RFC 9470); an unverified email address a 403 with \`emailVerification: "required"\`. Scopes beyond what the caller holds are a 403; an \`expiresAt\` in the past or beyond \`API_KEY_MAX_LIFETIME_DAYS\` (for a key with a delegated permission scope, \`STAFF_SESSION_MAX_AGE_SECONDS\`, also its default) a 400; past \`API_KEYS_PER_USER\` unrevoked keys a 409. The owner is mailed about the new key. A password reset or change, a temporary password or an MFA reset revokes every key. ${INTERACTIVE}`,
    request: { body: jsonBody(CreateApiKeySchema) },
    responses: {
      201: jsonResponse("Created; keep the key, it is never shown again.", CreatedApiKeySchema),
      ...problemResponses(400, 404, 409, 415, 503),
    },
  },
  // Minting credentials: as rare as logins, and each key is one more way in.
  { interactiveOnly: true, rateLimit: "auth" },
);

export const addApiKey = createRouter().openapi(route, async (c) => {
  const body = c.req.valid("json");
  const caller = requireRecentAuthentication(c, API_KEY_CREATION_MAX_AUTH_AGE_SECONDS);
  const { record, key, ownerEmail } = await createApiKey(apiKeyDeps(c), {
    actor: caller.actor,
    userId: caller.userId,
    held: caller.permissions,
    name: body.name,
    scopes: body.scopes,
    projectId: body.projectId,
    expiresAt: body.expiresAt === undefined ? undefined : new Date(body.expiresAt),
    origin: requestOrigin(c),
  });
  const services = c.get("services");
  const requestId = c.get("requestId");
  if (ownerEmail) {
    // Told after the answer (ASVS v4.0.3 V2.2.3): a key made by someone else is the owner's cue to reset.
    services.background("mailing the owner of a new API key", () =>
      enqueueMail(services.notifications, {
        requestId,
        to: ownerEmail,
        template: "account.api-key-created",
        params: {
          keyName: record.name,
          lastCharacters: record.lastCharacters,
          scopes: record.scopes.join(", "),
          createdAt: record.createdAt.toISOString(),
          expiresAt: record.expiresAt.toISOString(),
          resetUrl: accountLinks.resetPassword(services.config.appUrl),
        },
      }),
    );
  }
  const json = { ...toApiKeyJson({ ...record, lastUsedAt: null, lastUsedIp: null }), key };
  return c.json(json, 201, { Location: `/api-keys/${record.id}`, "Cache-Control": "no-store" });
});
