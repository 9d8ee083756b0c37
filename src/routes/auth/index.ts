import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import { createRouter } from "../../app/create-app.ts";
import { fieldErrors } from "../../app/error-handler.ts";
import {
  type AuthDeps,
  completeMfaLogin,
  hashRecoveryCode,
  logout,
  passwordLogin,
  refreshTokens,
  useSecondFactor,
} from "../../auth/auth-service.ts";
import { buckets, throttledAttempt } from "../../auth/throttle.ts";
import { base32Encode, newTotpSecret, otpauthUri, verifyTotp } from "../../auth/totp.ts";
import { asActor } from "../../db/actor.ts";
import { NoRowsAffectedError } from "../../db/affected.ts";
import { deleteMfa, getMfa, getUser, putPendingMfa, updateMfa } from "../../db/queries/users.ts";
import type { Session } from "../../durable-objects/sessions.ts";
import { requireAuth } from "../../gateway/authentication.ts";
import { FORM_BODY, formAsJson } from "../../gateway/form-as-json.ts";
import { OAUTH_ERROR_HEADERS } from "../../gateway/oauth-error-responses.ts";
import { clientIp } from "../../gateway/rate-limit.ts";
import { createSecretBox } from "../../pkg/crypto/secret-box.ts";
import { ApiError, DependencyError, oauthError } from "../../pkg/errors/api-error.ts";
import { PROBLEM_CONTENT_TYPE, ProblemSchema, problemResponses } from "../../pkg/errors/problem.ts";
import { BEARER } from "../openapi.ts";
import {
  MFA_GRANT_TYPE,
  MfaCodeSchema,
  MfaDisableSchema,
  MfaSetupSchema,
  OAuthProblemSchema,
  RecoveryCodesSchema,
  RefreshRequestSchema,
  SessionIdParams,
  SessionSchema,
  TokenRequestSchema,
  TokenResponseSchema,
} from "./schemas.ts";

export const NO_STORE = { "Cache-Control": "no-store", Pragma: "no-cache" };
const RECOVERY_CODES = 10;

export function authDeps(c: Context<AppEnv>): AuthDeps {
  const { config, database } = c.get("services");
  return {
    config,
    db: database.db,
    http: database.http,
    sessions: c.env.SESSIONS,
    throttle: c.env.LOGIN_THROTTLE,
    client: { ip: clientIp(c), userAgent: c.req.header("user-agent") ?? null },
  };
}

/** Errors of `/auth/refresh`: problems (`application/problem+json`) that also carry OAuth codes. */
const oauthErrors = {
  400: {
    description:
      "`invalid_request` or `invalid_grant`; a body that is not JSON (or not a form) at all is a plain `bad_request` problem.",
    content: { [PROBLEM_CONTENT_TYPE]: { schema: z.union([OAuthProblemSchema, ProblemSchema]) } },
  },
};

const oauthJson = (
  description: string,
  headers?: Record<string, { schema: { type: "integer" }; description: string }>,
) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { [OAUTH_ERROR_HEADERS["content-type"]]: { schema: OAuthProblemSchema } },
});

const RETRY_AFTER = { "Retry-After": { schema: { type: "integer" as const }, description: "Seconds to wait." } };

/**
 * Errors of the token endpoint, every one with `error` and `error_description` (RFC 6749 §5.2)
 * beside the problem members, sent as `application/json` with `Cache-Control: no-store`.
 */
const tokenErrors = {
  400: oauthJson(
    "`invalid_request` (a missing, malformed or repeated parameter), `invalid_grant` or `unsupported_grant_type`.",
  ),
  401: oauthJson("`invalid_client`: a `client_id` other than our registered client."),
  403: oauthJson("`mfa_required`: complete the login with a code and the returned `mfa_token`."),
  413: oauthJson("`invalid_request`: the body is too large."),
  415: oauthJson("`invalid_request`: the body is neither form-encoded nor JSON."),
  429: oauthJson(
    "`slow_down`: too many failed logins for this account or address, or too many requests; see Retry-After.",
    RETRY_AFTER,
  ),
  503: oauthJson("`temporarily_unavailable`: a dependency is unreachable; nothing was changed.", RETRY_AFTER),
};

/** Validation failures of the token endpoints, reported with OAuth codes as well as field errors. */
function oauthValidationHook(
  result: { success: true } | { success: false; error: z.ZodError; target: string; data?: unknown },
): undefined {
  if (result.success) return undefined;
  const errors = fieldErrors(result.error, result.target);
  const given = (result.data as { grant_type?: unknown } | undefined)?.grant_type;
  const unsupported = typeof given === "string" && given !== "" && errors.some((e) => e.pointer === "/grant_type");
  throw oauthError(
    "validation_failed",
    unsupported ? "unsupported_grant_type" : "invalid_request",
    errors.map((e) => `${e.pointer}: ${e.message}`).join("; "),
    { errors },
  );
}

const tokenRoute = createRoute({
  method: "post",
  path: "/auth/token",
  tags: ["Auth"],
  summary: "Get tokens (OAuth2 token endpoint)",
  description: `Grants: \`password\` (RFC 6749 §4.3; \`username\` is the email or username), \`refresh_token\` (rotates the refresh token), and \`${MFA_GRANT_TYPE}\` (completes a login that answered \`mfa_required\`). Form-encoded (a parameter must not repeat, and one without a value counts as omitted: RFC 6749 §3.2) or JSON. Our apps are one public client: \`client_id\` may be sent, and must then be ours. An unknown user and a wrong password get the same answer. Each attempt is counted before the password is checked, per account (whichever identifier named it) and per client address (an IPv6 one by its /64): five free, then waits of 1 s, 2 s, 4 s … up to 15 min (429 \`slow_down\`), so concurrent guesses get no more tries. Every error, whichever layer raises it, is sent as \`application/json\` (not \`application/problem+json\`, which OAuth clients refuse) with \`Cache-Control: no-store\`: the problem members, request id included, plus \`error\` and \`error_description\` (RFC 6749 §5.2).`,
  middleware: [formAsJson()] as const,
  [FORM_BODY]: true,
  request: {
    body: {
      required: true,
      content: { "application/json": { schema: TokenRequestSchema } },
    },
  },
  responses: {
    200: { description: "Tokens.", content: { "application/json": { schema: TokenResponseSchema } } },
    ...tokenErrors,
  },
});

const refreshRoute = createRoute({
  method: "post",
  path: "/auth/refresh",
  tags: ["Auth"],
  summary: "Refresh tokens (rotating the refresh token)",
  description:
    "Every use returns a new refresh token. Reusing a rotated one ends the whole session (reuse detection), except the one just replaced, which for 30 s returns the same new token so that two concurrent refreshes by one client do not log it out. A client address that keeps presenting wrong refresh tokens is slowed down as failed logins are (429 with Retry-After).",
  middleware: [formAsJson()] as const,
  [FORM_BODY]: true,
  request: {
    body: {
      required: true,
      content: { "application/json": { schema: RefreshRequestSchema } },
    },
  },
  responses: {
    200: { description: "New tokens.", content: { "application/json": { schema: TokenResponseSchema } } },
    ...oauthErrors,
    ...problemResponses(413, 415, 429, 503),
  },
});

const logoutRoute = createRoute({
  method: "post",
  path: "/auth/logout",
  tags: ["Auth"],
  summary: "End this session",
  description: "Its refresh token and its access tokens are refused from now on.",
  security: BEARER,
  middleware: [requireAuth()] as const,
  responses: { 204: { description: "Logged out." }, ...problemResponses(401, 503) },
});

const listSessionsRoute = createRoute({
  method: "get",
  path: "/auth/sessions",
  tags: ["Auth"],
  summary: "My sessions",
  security: BEARER,
  middleware: [requireAuth()] as const,
  responses: {
    200: {
      description: "Live sessions, most recently used first.",
      content: { "application/json": { schema: z.object({ data: z.array(SessionSchema) }) } },
    },
    ...problemResponses(401, 503),
  },
});

const revokeSessionRoute = createRoute({
  method: "delete",
  path: "/auth/sessions/{id}",
  tags: ["Auth"],
  summary: "End one of my sessions",
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { params: SessionIdParams },
  responses: { 204: { description: "Ended." }, ...problemResponses(400, 401, 404, 503) },
});

const revokeAllRoute = createRoute({
  method: "delete",
  path: "/auth/sessions",
  tags: ["Auth"],
  summary: "End all my sessions (this one included)",
  security: BEARER,
  middleware: [requireAuth()] as const,
  responses: { 204: { description: "Ended." }, ...problemResponses(401, 503) },
});

const mfaSetupRoute = createRoute({
  method: "post",
  path: "/auth/mfa/setup",
  tags: ["Auth"],
  summary: "Start TOTP enrolment",
  description: "Returns a new secret and its otpauth:// URI; nothing changes until `/auth/mfa/confirm`.",
  security: BEARER,
  middleware: [requireAuth()] as const,
  responses: {
    200: {
      description: "The secret to add to an authenticator app.",
      content: { "application/json": { schema: MfaSetupSchema } },
    },
    ...problemResponses(401, 409, 503),
  },
});

const mfaConfirmRoute = createRoute({
  method: "post",
  path: "/auth/mfa/confirm",
  tags: ["Auth"],
  summary: "Confirm TOTP enrolment with a code",
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { body: { required: true, content: { "application/json": { schema: MfaCodeSchema } } } },
  responses: {
    200: {
      description: "MFA is on; the one-time recovery codes.",
      content: { "application/json": { schema: RecoveryCodesSchema } },
    },
    ...problemResponses(400, 401, 409, 415, 429, 503),
  },
});

const mfaDisableRoute = createRoute({
  method: "post",
  path: "/auth/mfa/disable",
  tags: ["Auth"],
  summary: "Turn TOTP off (needs a code or a recovery code)",
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { body: { required: true, content: { "application/json": { schema: MfaDisableSchema } } } },
  responses: { 204: { description: "MFA is off." }, ...problemResponses(400, 401, 409, 415, 429, 503) },
});

/** The answer to a login whose account has MFA on: finish it with a code and this token. */
export function mfaRequired(mfaToken: string) {
  return oauthError("mfa_required", "mfa_required", "A second factor is required: send a code with this mfa_token.", {
    extensions: { mfa_token: mfaToken },
    headers: NO_STORE,
  });
}

function sessionJson(session: Session, currentId: string): z.infer<typeof SessionSchema> {
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

function sessionsStub(c: Context<AppEnv>) {
  return c.env.SESSIONS.get(c.env.SESSIONS.idFromName(c.get("auth").userId));
}

async function reach<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw new DependencyError("sessions", error);
  }
}

/**
 * A TOTP or recovery code checked on a signed-in route: counted in the account's second-factor
 * bucket, which the MFA login shares, so a stolen access token gets no more guesses than a stolen
 * password (OWASP API2:2023). Refused with 429 and Retry-After.
 */
function secondFactorAttempt(userId: string) {
  return {
    buckets: [buckets.secondFactor(userId)],
    refuse: (seconds: number) =>
      new ApiError("rate_limited", {
        detail: `Too many wrong codes; wait ${seconds} s.`,
        headers: { "Retry-After": String(seconds) },
      }),
  };
}

function recoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODES }, () => {
    const code = base32Encode(crypto.getRandomValues(new Uint8Array(7))).slice(0, 10);
    return `${code.slice(0, 5)}-${code.slice(5)}`;
  });
}

export const authRouter = createRouter()
  .openapi(
    tokenRoute,
    async (c) => {
      const body = c.req.valid("json");
      const deps = authDeps(c);
      if (body.client_id !== undefined && body.client_id !== deps.config.auth.tokens.clientId) {
        throw oauthError(
          "unauthorized",
          "invalid_client",
          "Unknown client_id: this endpoint serves only its registered client.",
        );
      }
      if (body.grant_type === "refresh_token") {
        return c.json(await refreshTokens(deps, { refreshToken: body.refresh_token }), 200, NO_STORE);
      }
      if (body.grant_type === MFA_GRANT_TYPE) {
        const tokens = await completeMfaLogin(deps, {
          mfaToken: body.mfa_token,
          otp: body.otp,
          recoveryCode: body.recovery_code,
        });
        return c.json(tokens, 200, NO_STORE);
      }
      const result = await passwordLogin(deps, { username: body.username, password: body.password });
      if (result.kind === "mfa") throw mfaRequired(result.mfaToken);
      return c.json(result.tokens, 200, NO_STORE);
    },
    oauthValidationHook,
  )
  .openapi(
    refreshRoute,
    async (c) => {
      const body = c.req.valid("json");
      return c.json(await refreshTokens(authDeps(c), { refreshToken: body.refresh_token }), 200, NO_STORE);
    },
    oauthValidationHook,
  )
  .openapi(logoutRoute, async (c) => {
    const { userId, sessionId } = c.get("auth");
    await logout(authDeps(c), { userId, sessionId });
    return c.body(null, 204);
  })
  .openapi(listSessionsRoute, async (c) => {
    // Read by the gateway with the session check; asked again only if it did not.
    const sessions = c.get("liveSessions") ?? (await reach(async () => sessionsStub(c).list()));
    return c.json({ data: sessions.map((s) => sessionJson(s, c.get("auth").sessionId)) }, 200);
  })
  .openapi(revokeSessionRoute, async (c) => {
    const { id } = c.req.valid("param");
    // Only the caller's own Sessions object is asked: another user's session id is simply not there.
    const revoked = await reach(async () => sessionsStub(c).revoke(id));
    if (!revoked) throw new ApiError("not_found", { detail: `No session ${id}.` });
    return c.body(null, 204);
  })
  .openapi(revokeAllRoute, async (c) => {
    await reach(async () => sessionsStub(c).revokeAll());
    return c.body(null, 204);
  })
  .openapi(mfaSetupRoute, async (c) => {
    const { actor, userId } = c.get("auth");
    const { config, database } = c.get("services");
    const box = await createSecretBox(config.encryptionKey);
    const secret = newTotpSecret();
    const sealed = await box.seal(secret);
    const email = await asActor(database.db, actor, async (tx) => {
      const existing = await getMfa(tx, { userId });
      if (existing?.enabledAt) throw new ApiError("conflict", { detail: "MFA is already on; disable it first." });
      await putPendingMfa(tx, { userId, secretCiphertext: sealed });
      return (await getUser(tx, { id: userId }))?.email ?? userId;
    });
    return c.json({ secret, otpauthUri: otpauthUri(secret, email, "TechCorp") }, 200, NO_STORE);
  })
  .openapi(mfaConfirmRoute, async (c) => {
    const { actor, userId } = c.get("auth");
    const { code } = c.req.valid("json");
    const { config, database } = c.get("services");
    const box = await createSecretBox(config.encryptionKey);
    const codes = recoveryCodes();
    const hashes = await Promise.all(codes.map(hashRecoveryCode));
    const confirmed = await throttledAttempt(c.env.LOGIN_THROTTLE, secondFactorAttempt(userId), () =>
      asActor(database.db, actor, async (tx) => {
        const pending = await getMfa(tx, { userId });
        if (!pending) throw new ApiError("conflict", { detail: "Start with /auth/mfa/setup." });
        if (pending.enabledAt) throw new ApiError("conflict", { detail: "MFA is already on." });
        const step = await verifyTotp(await box.open(pending.secretCiphertext), code, {
          now: Date.now(),
          lastUsedStep: null,
        });
        if (step === null) return undefined;
        const enabled = await updateMfa(tx, {
          userId,
          changes: { enabledAt: new Date(), lastUsedStep: step, recoveryCodeHashes: hashes },
        });
        if (!enabled) throw new NoRowsAffectedError("turning the second factor on", 1, 0);
        return true;
      }),
    );
    if (!confirmed) {
      throw new ApiError("validation_failed", {
        detail: "body /code: the code does not match",
        errors: [{ in: "body", pointer: "/code", message: "the code does not match" }],
      });
    }
    return c.json({ recoveryCodes: codes }, 200, NO_STORE);
  })
  .openapi(mfaDisableRoute, async (c) => {
    const { actor, userId } = c.get("auth");
    const body = c.req.valid("json");
    const { database } = c.get("services");
    const enrolled = await asActor(database.db, actor, (tx) => getMfa(tx, { userId }));
    if (!enrolled?.enabledAt) throw new ApiError("conflict", { detail: "MFA is not on." });
    const deps = { db: database.db, config: c.get("services").config };
    const accepted = await throttledAttempt(c.env.LOGIN_THROTTLE, secondFactorAttempt(userId), async () => {
      const used = await useSecondFactor(deps, actor, userId, { otp: body.code, recoveryCode: body.recoveryCode });
      return used || undefined;
    });
    if (!accepted) {
      throw new ApiError("validation_failed", {
        detail: "body: the code is invalid or was already used",
        errors: [{ in: "body", pointer: body.code ? "/code" : "/recoveryCode", message: "invalid or already used" }],
      });
    }
    await asActor(database.db, actor, (tx) => deleteMfa(tx, { userId }));
    return c.body(null, 204);
  });
