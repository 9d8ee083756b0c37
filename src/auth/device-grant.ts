import { base64url } from "jose";
import type {
  DeviceApproval,
  DeviceAuthorization,
  DevicePoll,
  DeviceSignIn,
} from "../durable-objects/device-authorization.ts";
import { sha256Hex } from "../pkg/crypto/digest.ts";
import { DependencyError, oauthError } from "../pkg/errors/api-error.ts";
import {
  type AuthDeps,
  type Authentication,
  sessionLifetimes,
  signInPageLogin,
  startLogin,
  type TokenResponse,
  tokenResponse,
} from "./auth-service.ts";
import type { OAuthClient } from "./clients.ts";
import { ADMIN_SCOPE, grantScope, parseScope } from "./scopes.ts";
import { type SingleSignOn, singleSignOn, ssoStart } from "./single-sign-on.ts";
import { withUserSessions } from "./user-sessions.ts";

/** The device grant's type (RFC 8628 §3.4). */
export const DEVICE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code";
/** How long a device code and its user code live (s): RFC 8628 §3.2 `expires_in`. */
export const DEVICE_CODE_TTL_SECONDS = 600;
/** The polling interval the device starts with (s): RFC 8628 §3.2 `interval` (its default). */
export const DEVICE_POLL_INTERVAL_SECONDS = 5;

/**
 * User codes: 8 characters of the 20 consonants RFC 8628 §6.1 suggests (no vowels, so no words; no
 * look-alikes), about 34.5 bits; shown as `XXXX-XXXX`, typed in any case and with any separator.
 */
const USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LENGTH = 8;

export type DeviceNamespace = DurableObjectNamespace<DeviceAuthorization>;

/** What the device grant needs besides the auth service's dependencies: DEVICE_AUTHORIZATIONS (one object per user code). */
export interface DeviceDeps extends AuthDeps {
  devices: DeviceNamespace;
}

/** RFC 8628 §3.2 device authorization response. */
export interface DeviceAuthorizationResponse {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  expires_in: number;
  interval: number;
}

function newUserCode(): string {
  // 256 is not a multiple of 20: bytes past the last whole multiple are drawn again (no bias).
  const limit = 256 - (256 % USER_CODE_ALPHABET.length);
  let code = "";
  while (code.length < USER_CODE_LENGTH) {
    for (const byte of crypto.getRandomValues(new Uint8Array(USER_CODE_LENGTH))) {
      if (byte < limit && code.length < USER_CODE_LENGTH) code += USER_CODE_ALPHABET[byte % USER_CODE_ALPHABET.length];
    }
  }
  return code;
}

/** A user code as typed (`wdjb-mjht`, `WDJB MJHT`) in its canonical form, or undefined if it cannot be one. */
export function normaliseUserCode(typed: string): string | undefined {
  const code = typed.toUpperCase().replace(/[\s-]/g, "");
  const valid = code.length === USER_CODE_LENGTH && [...code].every((c) => USER_CODE_ALPHABET.includes(c));
  return valid ? code : undefined;
}

/** `XXXX-XXXX`, as shown to the user. */
const displayed = (code: string) => `${code.slice(0, 4)}-${code.slice(4)}`;

async function withDevice<T>(
  devices: DeviceNamespace,
  userCode: string,
  work: (stub: DurableObjectStub<DeviceAuthorization>) => Promise<T>,
): Promise<T> {
  try {
    return await work(devices.get(devices.idFromName(userCode)));
  } catch (error) {
    throw new DependencyError("device authorizations", error);
  }
}

/**
 * The scopes a device may be granted of those asked: never `admin`. RFC 8628 §5.4 (remote
 * phishing): the person who approves may be lured into entering a code an attacker's device
 * shows, so the administrator's role is not handed out through it (an administrator uses the web
 * app). The delegated permissions stay grantable: the consent page names each before approval.
 */
const deviceScopes = (scopes: readonly string[]) => scopes.filter((scope) => scope !== ADMIN_SCOPE);

/**
 * The device authorization request (RFC 8628 §3.1–§3.2): a device code for the client to poll
 * with (`<userCode>.<secret>`: it names its object) and a user code for the person to enter at
 * `verification_uri`. One call to the user code's object (again on the rare taken code).
 *
 * `admin` is dropped from the scopes asked (never granted to a device: `deviceScopes`).
 *
 * @throws `invalid_scope` for an unknown scope; DependencyError when the object is unreachable
 */
export async function startDeviceAuthorization(
  deps: Pick<DeviceDeps, "devices" | "config">,
  client: OAuthClient,
  scope: string | undefined,
): Promise<DeviceAuthorizationResponse> {
  const scopes = parseScope(scope, client);
  if (!scopes) throw oauthError("bad_request", "invalid_scope", "An unknown scope was asked for.");
  const secret = base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
  const request = {
    clientId: client.id,
    scope: deviceScopes(scopes).join(" "),
    deviceSecretHash: await sha256Hex(secret),
    expiresAt: Date.now() + DEVICE_CODE_TTL_SECONDS * 1000,
    intervalSeconds: DEVICE_POLL_INTERVAL_SECONDS,
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    const userCode = newUserCode();
    if (await withDevice(deps.devices, userCode, (stub) => stub.start(request))) {
      const verification = `${deps.config.publicUrl}/auth/device`;
      return {
        device_code: `${userCode}.${secret}`,
        user_code: displayed(userCode),
        verification_uri: verification,
        verification_uri_complete: `${verification}?user_code=${displayed(userCode)}`,
        expires_in: DEVICE_CODE_TTL_SECONDS,
        interval: DEVICE_POLL_INTERVAL_SECONDS,
      };
    }
  }
  throw new DependencyError("device authorizations", new Error("no free user code after 3 attempts"));
}

/** The client id of the pending request behind a user code, or undefined (unknown, expired, decided). */
export async function pendingDevice(
  deps: Pick<DeviceDeps, "devices">,
  userCode: string,
): Promise<{ clientId: string; scope: string } | undefined> {
  return (await withDevice(deps.devices, userCode, (stub) => stub.pending())) ?? undefined;
}

/** A user who signed in on the verification page, kept while they are asked to consent. */
export interface DeviceConsent {
  userId: string;
  authentication: Authentication;
  /**
   * Signed in with the browser's single sign-on session (no new one to start at approval); false:
   * with the password, so the approval starts one for the browser.
   */
  bySso: boolean;
}

/**
 * After the sign-in on the verification page: the signed-in user is kept in the user code's
 * object until they approve on the consent page (RFC 8628 §5.4: the client and the scopes are
 * shown before anything is granted). One call to the object.
 * @returns the consent secret the consent page's form carries (single use), or undefined when
 *   the request is no longer pending
 */
export async function offerDeviceConsent(
  deps: Pick<DeviceDeps, "devices">,
  userCode: string,
  consent: DeviceConsent,
): Promise<string | undefined> {
  const secret = base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
  const signIn: DeviceSignIn = { ...consent };
  const offered = await withDevice(deps.devices, userCode, async (stub) =>
    stub.offerConsent(await sha256Hex(secret), signIn),
  );
  return offered ? secret : undefined;
}

/**
 * The sign-in `offerDeviceConsent` kept, for the consent page's secret, once; undefined when the
 * secret is wrong or the request is no longer pending. One call to the object.
 */
export async function takeDeviceConsent(
  deps: Pick<DeviceDeps, "devices">,
  userCode: string,
  consentSecret: string,
): Promise<DeviceConsent | undefined> {
  const signIn = await withDevice(deps.devices, userCode, (stub) => stub.takeConsent(consentSecret));
  return signIn ? (signIn as unknown as DeviceConsent) : undefined;
}

/**
 * The user approves the device (RFC 8628 §3.3): the login batch (`startLogin`: the login and its
 * security event recorded, the user's grants read, one HTTP batch), then one call to the user's
 * SESSIONS object that starts a session for the device's client with the granted scope (asked ∩
 * held; never `admin`) and the sign-in's `auth_time` and `amr` (for the ID tokens of its
 * refreshes), spends an MFA login's `mfa_token`, and, after a sign-in with the password, starts
 * the browser's single sign-on session; then the approval is handed to the user code's object for
 * the device's next poll.
 *
 * The approval carries the sign-in's `amr` for the ID token. A session the device does not
 * collect before the code expires is ended by the object's alarm.
 *
 * @param device the pending request (`pendingDevice`), by its user code
 * @param consent the signed-in user who consented (`takeDeviceConsent`)
 * @param previous the browser's single sign-on cookie, if it sent one (replaced by the new one)
 * @returns false when the request is no longer pending (the session is then ended at once);
 *   else the single sign-on session started for the browser, if any
 */
export async function approveDevice(
  deps: DeviceDeps,
  device: { userCode: string; clientId: string; scope: string },
  consent: DeviceConsent,
  previous?: string,
): Promise<false | { sso: SingleSignOn | null }> {
  const { userCode, ...pending } = device;
  const { userId, authentication } = consent;
  const details = signInPageLogin(authentication, DEVICE_GRANT_TYPE, pending.clientId);
  const { principal, started } = await startLogin(
    deps,
    userId,
    { details, changes: authentication.changes },
    async (stub, principal) => {
      const scope = grantScope(deviceScopes(pending.scope.split(" ")), principal);
      const input = {
        ...sessionLifetimes(deps, principal),
        principal,
        clientId: pending.clientId,
        scope,
        authentication: { authTime: authentication.authTime, amr: authentication.amr },
        sso: consent.bySso ? null : ssoStart(deps, principal, userId, previous),
      };
      const session = await (authentication.once ? stub.createOnce(input, authentication.once) : stub.create(input));
      return session && { ...session, scope };
    },
  );
  const approval: DeviceApproval = {
    userId,
    sessionId: started.session.id,
    secret: started.secret,
    scope: started.scope,
    principal,
    authTime: authentication.authTime,
    amr: authentication.amr,
  };
  if (await withDevice(deps.devices, userCode, (stub) => stub.approve(approval))) {
    return { sso: started.sso && singleSignOn(userId, started.sso) };
  }
  await withUserSessions(deps.sessions, userId, (stub) => stub.revoke(started.session.id));
  return false;
}

/** The user refuses the device; false when the request is no longer pending. */
export function denyDevice(deps: Pick<DeviceDeps, "devices">, userCode: string): Promise<boolean> {
  return withDevice(deps.devices, userCode, (stub) => stub.deny());
}

/**
 * The device access token request (RFC 8628 §3.4–§3.5): one call to the user code's object.
 *
 * @throws `authorization_pending`, `slow_down` (400, with the new `interval`), `access_denied`,
 *   `expired_token`, or `invalid_grant` for an unknown device code, another client's, or one
 *   already exchanged
 */
export async function pollDevice(deps: DeviceDeps, client: OAuthClient, deviceCode: string): Promise<TokenResponse> {
  const match = /^([A-Z]{8})\.([A-Za-z0-9_-]{43})$/.exec(deviceCode);
  const userCode = match?.[1];
  const secret = match?.[2];
  if (!userCode || !secret) throw oauthError("invalid_grant", "invalid_grant", "The device code is invalid.");
  const poll: DevicePoll = await withDevice(deps.devices, userCode, async (stub) =>
    // RPC types a union's members apart; the object answers a DevicePoll.
    (stub as unknown as Pick<DeviceAuthorization, "poll">).poll(secret, client.id),
  );
  switch (poll.outcome) {
    case "approved": {
      const { approval } = poll;
      const session = { id: approval.sessionId, clientId: client.id, scope: approval.scope };
      return tokenResponse(deps, {
        userId: approval.userId,
        session,
        secret: approval.secret,
        principal: approval.principal,
        authentication: { authTime: approval.authTime, nonce: null, amr: approval.amr },
      });
    }
    case "authorization_pending":
      throw oauthError("bad_request", "authorization_pending", "The user has not yet approved this device.");
    case "slow_down":
      throw oauthError("bad_request", "slow_down", `Polling too fast; poll every ${poll.intervalSeconds} s.`, {
        extensions: { interval: poll.intervalSeconds },
      });
    case "access_denied":
      throw oauthError("bad_request", "access_denied", "The user denied this device.");
    case "expired_token":
      throw oauthError("bad_request", "expired_token", "The device code has expired; start again.");
    default:
      throw oauthError("invalid_grant", "invalid_grant", "The device code is invalid or was already used.");
  }
}
