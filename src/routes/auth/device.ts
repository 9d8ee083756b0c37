import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import { createRouter } from "../../app/create-app.ts";
import { findClient } from "../../auth/clients.ts";
import {
  approveDevice,
  type DeviceConsent,
  denyDevice,
  normaliseUserCode,
  offerDeviceConsent,
  pendingDevice,
  takeDeviceConsent,
} from "../../auth/device-grant.ts";
import { describeScope } from "../../auth/scopes.ts";
import { useSingleSignOn } from "../../auth/single-sign-on.ts";
import { FORM_BODY, formAsJson } from "../../gateway/form-as-json.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonBody, publicRoute } from "../openapi.ts";
import { checkCsrf, csrfToken } from "./csrf.ts";
import { authDeps } from "./deps.ts";
import { clearSsoCookie, setSsoCookie, signIn, ssoCookie } from "./sign-in.ts";
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
  // Not `no-referrer`: the form's post would carry `Origin: null`, which checkCsrf refuses.
  c.header("Referrer-Policy", "same-origin");
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
  // A browser with a single sign-on cookie may leave the credentials empty (checked on the post).
  const signedIn = ssoCookie(c) !== undefined;
  return form(c, { step: "user-code", userCode, signedIn, hidden: { csrf: csrfToken(c) } });
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
    "The user code and the password (then a TOTP or recovery code when MFA is on) sign the user in, or, with the credentials left empty, the browser's single sign-on session (the cookie a sign-in here or on the authorization page set); the consent page then names the client and every scope it asks (RFC 8628 §5.4), and its Approve (`consent`, single use) starts a session for the client with the scopes asked that the user holds (never `admin`), handed to the device at its next poll (after a password sign-in it also sets the single sign-on cookie). `decision=deny` refuses it. Guesses are throttled as at the token endpoint; the CSRF token and origin are checked as on the authorization endpoint's page.",
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
    const approved = consent && (await approveDevice(deps, { userCode, ...pending }, consent, ssoCookie(c)));
    if (!approved) return message(c, "Code expired", "That code is no longer valid; start again on your device.");
    if (approved.sso) setSsoCookie(c, approved.sso);
    const client = findClient(deps.config.auth, pending.clientId);
    return message(c, "Device approved", `${client?.name ?? "The device"} is signed in. You can close this page.`);
  }
  let signedIn: DeviceConsent;
  const sso = ssoCookie(c);
  if (sso && !body.mfa_token && !body.username && !body.password) {
    // Signed in already (single sign-on): straight to the consent page, which stays.
    const user = await useSingleSignOn(deps, sso);
    if (!user) {
      clearSsoCookie(c);
      return form(c, { step: "user-code", hidden, userCode, error: "Your sign-in has ended; sign in again." });
    }
    signedIn = { ...user, bySso: true };
  } else {
    const step = await signIn(deps, body);
    if (step.kind === "form") {
      const carried = step.mfaToken ? { ...hidden, user_code: userCode, mfa_token: step.mfaToken } : hidden;
      const shown = step.step === "password" ? "user-code" : "second-factor";
      return form(c, { step: shown, hidden: carried, userCode, error: step.error });
    }
    signedIn = { userId: step.user.id, authentication: step.authentication, bySso: false };
  }
  // Signed in: nothing is granted before the user has seen who asks for what (RFC 8628 §5.4).
  const consent = await offerDeviceConsent(deps, userCode, signedIn);
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
