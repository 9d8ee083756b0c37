import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import { createRouter } from "../../app/create-app.ts";
import { checkPassword, checkSecondFactor } from "../../auth/auth-service.ts";
import type { Authentication } from "../../auth/authorization-code.ts";
import { findClient } from "../../auth/clients.ts";
import {
  approveDevice,
  denyDevice,
  normaliseUserCode,
  offerDeviceConsent,
  pendingDevice,
  takeDeviceConsent,
} from "../../auth/device-grant.ts";
import { describeScope } from "../../auth/scopes.ts";
import type { PublicUser } from "../../db/queries/users.ts";
import { FORM_BODY, formAsJson } from "../../gateway/form-as-json.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonBody, publicRoute } from "../openapi.ts";
import { requestOrigin } from "../request-origin.ts";
import { checkCsrf, csrfToken } from "./csrf.ts";
import { authDeps } from "./deps.ts";
import {
  renderConsentPage,
  renderMessagePage,
  renderSignInPage,
  type SignInPage,
  signInPolicy,
} from "./sign-in-page.ts";

const HTML = { "text/html": { schema: z.string() } };

/** The verification pages' headers: strict CSP (forms post here only), never cached or framed. */
function pageHeaders(c: Context<AppEnv>): void {
  c.header("Content-Security-Policy", signInPolicy());
  c.header("Cache-Control", "no-store");
  c.header("Referrer-Policy", "no-referrer");
}

/** The form (again, with `error` when something went wrong: the page is the user's, not an API error). */
function form(c: Context<AppEnv>, content: Omit<SignInPage, "clientName" | "action">) {
  pageHeaders(c);
  return c.html(renderSignInPage({ clientName: "a device", action: "/auth/device", ...content }), 200);
}

function message(c: Context<AppEnv>, title: string, text: string) {
  pageHeaders(c);
  return c.html(renderMessagePage(title, text), 200);
}

const getRoute = createRoute({
  method: "get",
  path: "/auth/device",
  tags: ["Auth"],
  summary: "Device verification page (RFC 8628 §3.3)",
  description:
    "Where the person enters the user code a device shows (prefilled from `verification_uri_complete`), signs in, and approves or denies the device. HTML, no script, strict CSP.",
  request: {
    query: z.object({
      user_code: z
        .string()
        .max(32)
        .optional()
        .openapi({ param: { name: "user_code", in: "query" } }),
    }),
  },
  responses: { 200: { description: "The verification form.", content: HTML }, ...problemResponses(400) },
});

const showVerification = createRouter().openapi(getRoute, (c) => {
  const { user_code: userCode } = c.req.valid("query");
  return form(c, { step: "user-code", userCode, hidden: { csrf: csrfToken(c) } });
});

const VerificationForm = z
  .object({
    csrf: z.string().max(64).optional(),
    decision: z.enum(["approve", "deny"]).optional(),
    user_code: z.string().max(32).optional(),
    username: z.string().max(255).optional(),
    password: z.string().max(1024).optional(),
    mfa_token: z.string().max(4096).optional(),
    otp: z.string().max(6).optional(),
    recovery_code: z.string().max(64).optional(),
    consent: z.string().max(64).optional(),
  })
  .openapi("DeviceVerificationForm");

// The verification form takes passwords and user codes (short: guesses must stay few).
const postRoute = publicRoute("auth", {
  method: "post",
  path: "/auth/device",
  tags: ["Auth"],
  summary: "Approve or deny a device (the verification page's form)",
  description:
    "The user code and the password (then a TOTP or recovery code when MFA is on) sign the user in; the consent page then names the client and every scope it asks (RFC 8628 §5.4), and its Approve (`consent`, single use) starts a session for the client with the scopes asked that the user holds (never `admin`), handed to the device at its next poll. `decision=deny` refuses it. Guesses are throttled as at the token endpoint; the CSRF token and origin are checked as on the authorization endpoint's page.",
  middleware: [formAsJson()] as const,
  [FORM_BODY]: true,
  request: { body: jsonBody(VerificationForm) },
  responses: {
    200: {
      description:
        "The outcome, the consent page, the second factor's step, or the form again saying what went wrong (an unknown or expired code, wrong credentials, too many attempts).",
      content: HTML,
    },
    ...problemResponses(400, 403, 413, 415, 503),
  },
});

const verifyDevice = createRouter().openapi(postRoute, async (c) => {
  const body = c.req.valid("json");
  checkCsrf(c, body.csrf);
  const deps = authDeps(c);
  const hidden = { csrf: body.csrf };
  const userCode = normaliseUserCode(body.user_code ?? "");
  const pending = userCode ? await pendingDevice(deps, userCode) : undefined;
  if (!userCode || !pending) {
    return form(c, { step: "user-code", hidden, error: "That code is unknown or has expired." });
  }
  if (body.decision === "deny") {
    await denyDevice(deps, userCode);
    return message(c, "Device denied", "The device was not given access. You can close this page.");
  }
  if (body.consent) {
    const consent = body.decision === "approve" ? await takeDeviceConsent(deps, userCode, body.consent) : undefined;
    if (!consent || !(await approveDevice(deps, { userCode, ...pending }, consent))) {
      return message(c, "Code expired", "That code is no longer valid; start again on your device.");
    }
    const client = findClient(deps.config.auth, pending.clientId);
    return message(c, "Device approved", `${client?.name ?? "The device"} is signed in. You can close this page.`);
  }
  const origin = requestOrigin(c);
  let user: PublicUser;
  let authentication: Authentication;
  try {
    if (body.mfa_token) {
      const factor = body.otp ? { otp: body.otp } : { recoveryCode: body.recovery_code ?? "" };
      const proven = await checkSecondFactor(deps, { mfaToken: body.mfa_token, ...factor });
      user = proven.user;
      authentication = { amr: body.otp ? ["pwd", "otp", "mfa"] : ["pwd", "mfa"], once: proven.once, origin };
    } else {
      const checked = await checkPassword(deps, { username: body.username ?? "", password: body.password ?? "" });
      if (checked.kind === "mfa") {
        return form(c, {
          step: "second-factor",
          hidden: { ...hidden, user_code: userCode, mfa_token: checked.mfaToken },
        });
      }
      user = checked.user;
      authentication = { amr: ["pwd"], changes: checked.rehash, origin };
    }
  } catch (error) {
    if (!(error instanceof ApiError) || (error.code !== "invalid_grant" && error.code !== "rate_limited")) throw error;
    const retryAfter = error.headers["Retry-After"];
    const text = retryAfter
      ? `Too many failed attempts; wait ${retryAfter} s and try again.`
      : "Invalid credentials or code.";
    const step = body.mfa_token ? "second-factor" : "user-code";
    const carried = step === "second-factor" ? { ...hidden, user_code: userCode, mfa_token: body.mfa_token } : hidden;
    return form(c, { step, hidden: carried, userCode, error: text });
  }
  // Signed in: nothing is granted before the user has seen who asks for what (RFC 8628 §5.4).
  const authTime = Math.floor(Date.now() / 1000);
  const consent = await offerDeviceConsent(deps, userCode, { userId: user.id, authentication, authTime });
  if (!consent) return message(c, "Code expired", "That code is no longer valid; start again on your device.");
  const client = findClient(deps.config.auth, pending.clientId);
  pageHeaders(c);
  const scopes = pending.scope.split(" ").filter(Boolean);
  return c.html(
    renderConsentPage({
      clientName: client?.name ?? pending.clientId,
      action: "/auth/device",
      scopes: scopes.map((name) => ({ name, description: describeScope(name) })),
      hidden: { ...hidden, user_code: userCode, consent },
    }),
    200,
  );
});

/** `/auth/device`: the device grant's verification page and its form. */
export const verifyDevices = createRouter().route("/", showVerification).route("/", verifyDevice);
