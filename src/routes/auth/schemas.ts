import { z } from "@hono/zod-openapi";
import { DEVICE_GRANT_TYPE } from "../../auth/device-grant.ts";
import { MFA_GRANT_TYPE } from "../../auth/token-exchange.ts";
import type { Session } from "../../durable-objects/sessions.ts";
import { ProblemSchema } from "../../pkg/errors/problem.ts";
import { text, uuid } from "../fields.ts";

/** RFC 6749 §3.2.1: a public client may name itself; only our apps' client id is accepted. */
const ClientId = z.string().min(1).max(255).optional().openapi({
  description:
    "The client's id: a registered client (`OAUTH_CLIENTS`); absent, our first-party client (required with `authorization_code`).",
  example: "techcorp-first-party",
});

/** RFC 7636 §4.1: 43 to 128 unreserved characters. */
const CodeVerifier = z
  .string()
  .regex(/^[A-Za-z0-9._~-]{43,128}$/, "43 to 128 characters of [A-Za-z0-9._~-] (RFC 7636 §4.1)");

const AuthorizationCodeGrant = z.object({
  grant_type: z.literal("authorization_code"),
  client_id: ClientId,
  code: z.string().min(1).max(256),
  redirect_uri: z.string().min(1).max(2048),
  code_verifier: CodeVerifier,
});

const DeviceCodeGrant = z.object({
  grant_type: z.literal(DEVICE_GRANT_TYPE),
  client_id: ClientId,
  device_code: z.string().min(1).max(128),
});

const PasswordGrant = z.object({
  grant_type: z.literal("password"),
  client_id: ClientId,
  username: text().min(1).max(255).openapi({ description: "Email or username.", example: "ada@example.com" }),
  password: z.string().min(1).max(1024),
  scope: z.string().max(1024).optional(),
});

const RefreshGrant = z.object({
  grant_type: z.literal("refresh_token"),
  client_id: ClientId,
  refresh_token: z.string().min(1).max(512),
});

const MfaGrant = z
  .object({
    grant_type: z.literal(MFA_GRANT_TYPE),
    client_id: ClientId,
    mfa_token: z.string().min(1).max(4096),
    otp: z
      .string()
      .regex(/^\d{6}$/)
      .optional(),
    recovery_code: z.string().min(1).max(64).optional(),
  })
  .refine((grant) => Boolean(grant.otp) !== Boolean(grant.recovery_code), {
    message: "give exactly one of otp and recovery_code",
    path: ["otp"],
  })
  // What the refinement checks, as the document can say it.
  .openapi({ oneOf: [{ required: ["otp"] }, { required: ["recovery_code"] }] });

export const TokenRequestSchema = z
  .discriminatedUnion("grant_type", [AuthorizationCodeGrant, DeviceCodeGrant, PasswordGrant, RefreshGrant, MfaGrant])
  .openapi("TokenRequest", {
    description: `OAuth2 token request (RFC 6749): \`authorization_code\` (with the PKCE \`code_verifier\`), \`password\`, \`refresh_token\`, or \`${MFA_GRANT_TYPE}\` to complete an MFA login.`,
  });

export const RefreshRequestSchema = z.object({ refresh_token: z.string().min(1).max(512) }).openapi("RefreshRequest");

export const TokenResponseSchema = z
  .object({
    access_token: z.string(),
    token_type: z.literal("Bearer"),
    expires_in: z.number().int().openapi({ example: 900 }),
    refresh_token: z.string(),
    scope: z.string().openapi({ example: "" }),
    id_token: z
      .string()
      .optional()
      .openapi({ description: "OpenID Connect ID token, when the granted scope has `openid`." }),
  })
  .openapi("TokenResponse");

/**
 * Token endpoint errors: problem details that also carry RFC 6749 §5.2 `error` codes. The token
 * endpoint sends them as `application/json` (what OAuth clients accept), `/auth/refresh` as
 * `application/problem+json`.
 */
export const OAuthProblemSchema = ProblemSchema.extend({
  error: z.string().openapi({ example: "invalid_grant" }),
  error_description: z.string(),
  mfa_token: z.string().optional().openapi({ description: "With `mfa_required`: pass it back with a code." }),
}).openapi("OAuthProblem");

export const SessionSchema = z
  .object({
    id: z.uuid(),
    createdAt: z.iso.datetime(),
    lastUsedAt: z.iso.datetime(),
    expiresAt: z.iso.datetime(),
    idleExpiresAt: z.iso.datetime(),
    userAgent: z.string().nullable(),
    ip: z.string().nullable(),
    current: z.boolean().openapi({ description: "The session of the token making this request." }),
  })
  .openapi("Session");

/**
 * A session as `GET /auth/sessions` shows it: times as ISO 8601 instants (the object keeps epoch
 * ms), `idleExpiresAt` the earlier of the absolute end and the idle limit, `current` for the
 * session of `currentId` (the caller's).
 */
export function toSessionJson(session: Session, currentId: string): z.infer<typeof SessionSchema> {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    id: session.id,
    createdAt: iso(session.createdAt),
    lastUsedAt: iso(session.lastUsedAt),
    expiresAt: iso(session.expiresAt),
    idleExpiresAt: iso(Math.min(session.expiresAt, session.lastUsedAt + session.idleTimeoutMs)),
    userAgent: session.userAgent,
    ip: session.ip,
    current: session.id === currentId,
  };
}

export const SessionIdParams = z.object({
  id: uuid().openapi({ param: { name: "id", in: "path" } }),
});

export const MfaSetupSchema = z
  .object({
    secret: z.string().openapi({ description: "Base32 TOTP secret, for manual entry." }),
    otpauthUri: z.string().openapi({ example: "otpauth://totp/TechCorp:ada%40example.com?secret=…" }),
  })
  .openapi("MfaSetup");

export const MfaCodeSchema = z.object({ code: z.string().regex(/^\d{6}$/, "a 6-digit code") }).openapi("MfaCode");

export const MfaDisableSchema = z
  .object({
    code: z
      .string()
      .regex(/^\d{6}$/, "a 6-digit code")
      .optional(),
    recoveryCode: z.string().min(1).max(64).optional(),
  })
  .refine((body) => Boolean(body.code) !== Boolean(body.recoveryCode), {
    message: "give exactly one of code and recoveryCode",
    path: ["code"],
  })
  .openapi("MfaDisable", { oneOf: [{ required: ["code"] }, { required: ["recoveryCode"] }] });

export const MfaStatusSchema = z
  .object({
    status: z.enum(["off", "pending", "on"]).openapi({
      description:
        "`off`: no enrolment; `pending`: set up, waiting for `/auth/mfa/confirm`; `on`: asked at every login.",
    }),
    enabledAt: z.string().datetime().nullable(),
    recoveryCodes: z
      .object({
        remaining: z.number().int().openapi({ description: "Unused recovery codes left; each works once." }),
        issuedAt: z
          .string()
          .datetime()
          .nullable()
          .openapi({ description: "When they were handed out; null for the old 50-bit codes." }),
        regenerationRecommended: z.boolean().openapi({
          description:
            "Replace them with `POST /auth/mfa/recovery-codes`: they are the old 50-bit codes (ASVS 4.0.3 V2.6.2 asks for 112), or fewer than 3 are left.",
        }),
      })
      .nullable()
      .openapi({ description: "Null unless `status` is `on`." }),
  })
  .openapi("MfaStatus");

export const RecoveryCodesSchema = z
  .object({ recoveryCodes: z.array(z.string()).openapi({ description: "Shown once; each works once." }) })
  .openapi("RecoveryCodes");

/** A login provider's id, as configured (`OIDC_PROVIDERS`). */
export const ProviderParams = z.object({
  provider: z
    .string()
    .regex(/^[a-z0-9-]+$/)
    .openapi({ param: { name: "provider", in: "path" }, example: "google" }),
});

/** An optional query parameter of at most `maxLength` characters. */
const queryText = (name: string, maxLength: number) =>
  z
    .string()
    .max(maxLength)
    .optional()
    .openapi({ param: { name, in: "query" } });

export const OidcAuthorizeQuery = z.object({
  login_hint: queryText("login_hint", 255),
  return_to: z
    .string()
    .max(8192)
    .regex(/^\/auth\/authorize\?/, "an address of the authorization endpoint (/auth/authorize?…)")
    .optional()
    .openapi({
      param: { name: "return_to", in: "query" },
      description:
        "The authorization request (`/auth/authorize?…`) to resume after the login, as the sign-in page's links give it.",
    }),
});

/** The authorization response (OpenID Connect Core §3.1.2.5–6; `iss`: RFC 9207). */
export const OidcCallbackQuery = z.object({
  code: queryText("code", 2048),
  state: queryText("state", 512),
  iss: queryText("iss", 512),
  error: queryText("error", 256),
  error_description: queryText("error_description", 1024),
});
