import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import {
  confirmMfaEnrolment,
  disableMfa,
  mfaStatus,
  regenerateRecoveryCodes,
  startMfaEnrolment,
} from "../../auth/mfa.ts";
import { firstRow } from "../../db/actor.ts";
import { selectMfa } from "../../db/queries/users.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { invalidField } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonBody, jsonResponse, protectedRoute } from "../openapi.ts";
import { requestOrigin } from "../request-origin.ts";
import { authDeps } from "./deps.ts";
import { NO_STORE } from "./oauth.ts";
import { MfaCodeSchema, MfaDisableSchema, MfaSetupSchema, MfaStatusSchema, RecoveryCodesSchema } from "./schemas.ts";

const statusRoute = protectedRoute(
  "caller",
  {
    method: "get",
    path: "/auth/mfa",
    tags: ["Auth"],
    summary: "My second factor: on or off, recovery codes left",
    description:
      "Whether TOTP is on, and how many recovery codes are left. `recoveryCodes.regenerationRecommended` asks the client to prompt for new codes: the old 50-bit codes are still accepted until used, but fall short of ASVS 4.0.3 V2.6.2. One Postgres round trip.",
    responses: {
      200: jsonResponse("The caller's second factor.", MfaStatusSchema),
      ...problemResponses(503),
    },
  },
  { interactiveOnly: true, requiredActionFor: ["CONFIGURE_TOTP"] },
);

const readMfaStatus = createRouter().openapi(statusRoute, async (c) => {
  const { userId } = callerOf(c);
  const [rows] = await asCaller(c).read((db) => [selectMfa(db, { userId })]);
  const status = mfaStatus(firstRow(rows));
  return c.json(
    {
      status: status.status,
      enabledAt: status.enabledAt?.toISOString() ?? null,
      recoveryCodes: status.recoveryCodes && {
        ...status.recoveryCodes,
        issuedAt: status.recoveryCodes.issuedAt?.toISOString() ?? null,
      },
    },
    200,
    NO_STORE,
  );
});

const setupRoute = protectedRoute(
  "caller",
  {
    method: "post",
    path: "/auth/mfa/setup",
    tags: ["Auth"],
    summary: "Start TOTP enrolment",
    description: "Returns a new secret and its otpauth:// URI; nothing changes until `/auth/mfa/confirm`.",
    responses: {
      200: jsonResponse("The secret to add to an authenticator app.", MfaSetupSchema),
      ...problemResponses(409, 503),
    },
  },
  { interactiveOnly: true, requiredActionFor: ["CONFIGURE_TOTP"] },
);

const setUpMfa = createRouter().openapi(setupRoute, async (c) =>
  c.json(await startMfaEnrolment(authDeps(c), callerOf(c)), 200, NO_STORE),
);

const confirmRoute = protectedRoute(
  "caller",
  {
    method: "post",
    path: "/auth/mfa/confirm",
    tags: ["Auth"],
    summary: "Confirm TOTP enrolment with a code",
    request: { body: jsonBody(MfaCodeSchema) },
    responses: {
      200: jsonResponse("MFA is on; the one-time recovery codes.", RecoveryCodesSchema),
      ...problemResponses(400, 409, 415, 429, 503),
    },
  },
  // It checks a TOTP code (the login throttle counts the guesses too).
  { interactiveOnly: true, requiredActionFor: ["CONFIGURE_TOTP"], rateLimit: "auth" },
);

const confirmMfa = createRouter().openapi(confirmRoute, async (c) => {
  const { code } = c.req.valid("json");
  const recoveryCodes = await confirmMfaEnrolment(authDeps(c), callerOf(c), code);
  if (!recoveryCodes) throw invalidField("body", "/code", "the code does not match");
  return c.json({ recoveryCodes }, 200, NO_STORE);
});

const disableRoute = protectedRoute(
  "caller",
  {
    method: "post",
    path: "/auth/mfa/disable",
    tags: ["Auth"],
    summary: "Turn TOTP off (needs a code or a recovery code)",
    request: { body: jsonBody(MfaDisableSchema) },
    responses: { 204: { description: "MFA is off." }, ...problemResponses(400, 409, 415, 429, 503) },
  },
  // It checks a TOTP or recovery code (the login throttle counts the guesses too).
  { interactiveOnly: true, rateLimit: "auth" },
);

const turnOffMfa = createRouter().openapi(disableRoute, async (c) => {
  const body = c.req.valid("json");
  const factor = { otp: body.code, recoveryCode: body.recoveryCode };
  if (!(await disableMfa(authDeps(c), callerOf(c), factor))) {
    throw invalidField("body", body.code ? "/code" : "/recoveryCode", "invalid or already used");
  }
  return c.body(null, 204);
});

const regenerateRoute = protectedRoute(
  "caller",
  {
    method: "post",
    path: "/auth/mfa/recovery-codes",
    tags: ["Auth"],
    summary: "Replace my recovery codes (needs a code or a recovery code)",
    description:
      "Ten new one-time recovery codes of 120 random bits each (ASVS 4.0.3 V2.6.2) replace every unused one; the TOTP or recovery code sent is consumed. Counted with the account's other second-factor attempts (429 with Retry-After after five wrong ones). Codes issued before the codes had 120 bits (ten characters) still work until used: regenerate them.",
    request: { body: jsonBody(MfaDisableSchema) },
    responses: {
      200: jsonResponse("The new recovery codes, shown once.", RecoveryCodesSchema),
      ...problemResponses(400, 409, 415, 429, 503),
    },
  },
  // It checks a TOTP or recovery code (the login throttle counts the guesses too).
  { interactiveOnly: true, rateLimit: "auth" },
);

const replaceRecoveryCodes = createRouter().openapi(regenerateRoute, async (c) => {
  const body = c.req.valid("json");
  const factor = { otp: body.code, recoveryCode: body.recoveryCode };
  const recoveryCodes = await regenerateRecoveryCodes(
    authDeps(c),
    { ...callerOf(c), origin: requestOrigin(c) },
    factor,
  );
  if (!recoveryCodes) throw invalidField("body", body.code ? "/code" : "/recoveryCode", "invalid or already used");
  return c.json({ recoveryCodes }, 200, NO_STORE);
});

/** `/auth/mfa`: status, TOTP enrolment (setup, then confirm with a code), turning it off, new recovery codes. */
export const manageMfa = createRouter()
  .route("/", readMfaStatus)
  .route("/", setUpMfa)
  .route("/", confirmMfa)
  .route("/", turnOffMfa)
  .route("/", replaceRecoveryCodes);
