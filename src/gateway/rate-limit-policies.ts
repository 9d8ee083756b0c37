/** One window of a policy, as configured: at most `limit` requests per `windowSeconds`. */
export interface PolicyWindow {
  /** Names the window in the RateLimit headers, e.g. "burst". */
  name: string;
  limit: number;
  windowSeconds: number;
}

export type Policies = Record<string, PolicyWindow[]>;

/**
 * The built-in policies; `RATE_LIMIT_POLICIES` may replace any of them by name. Every request is
 * counted against each window of its policy (burst and sustained together). A route names its
 * policy where it is declared (`rateLimit`, src/gateway/route-traits.ts); one that names none is
 * counted under `api`.
 */
export const DEFAULT_POLICIES = {
  api: [
    { name: "burst", limit: 100, windowSeconds: 10 },
    { name: "sustained", limit: 2_000, windowSeconds: 600 },
  ],
  // Credentials are guessed through the token endpoint and registration: much stricter.
  auth: [
    { name: "burst", limit: 10, windowSeconds: 60 },
    { name: "sustained", limit: 60, windowSeconds: 3_600 },
  ],
  // The token endpoints (`/auth/token`, `/auth/refresh`): besides sign-ins, every session's refreshes
  // (a page load of the web app is one) and a device's polls (every 5 s, RFC 8628 §3.5) come here,
  // so `auth`'s 10 a minute would lock out everyone behind one address. Guesses of a password or a
  // second factor are throttled before any check, per account and per address, with waits doubling
  // up to 15 min (src/auth/auth-service.ts, `throttledAttempt`); codes, refresh tokens and device
  // codes carry 256 bits: nothing to guess.
  token: [
    { name: "burst", limit: 60, windowSeconds: 60 },
    { name: "sustained", limit: 1_200, windowSeconds: 3_600 },
  ],
  // Requests that may run the processing pipeline again without sending a byte (a restore of a
  // version not processed clean is scanned and extracted anew): OWASP API4:2023.
  processing: [
    { name: "burst", limit: 10, windowSeconds: 60 },
    { name: "sustained", limit: 100, windowSeconds: 3_600 },
  ],
  // Sharing by email address answers the same for addresses with and without an account, but the
  // list of shares shows who got access: bounded, so addresses cannot be tried in bulk (ASVS V2.2).
  sharing: [
    { name: "burst", limit: 20, windowSeconds: 60 },
    { name: "sustained", limit: 200, windowSeconds: 3_600 },
  ],
  // Requests that make the platform send a request to a host the caller chose (a webhook's
  // verification challenge): bounded, so the API is not a relay for probing public hosts
  // (OWASP API7:2023).
  outbound: [
    { name: "burst", limit: 5, windowSeconds: 60 },
    { name: "sustained", limit: 50, windowSeconds: 3_600 },
  ],
  // Requests that mail an account a link (a password reset asked for by address): per client
  // address, so that one client cannot fill mailboxes; each account gets at most three reset
  // links an hour besides (src/auth/account-lifecycle.ts). OWASP Forgot Password Cheat Sheet.
  recovery: [
    { name: "burst", limit: 5, windowSeconds: 60 },
    { name: "sustained", limit: 20, windowSeconds: 3_600 },
  ],
  // A new verification link for one's own address: per account, once a minute, five a day.
  verification: [
    { name: "burst", limit: 1, windowSeconds: 60 },
    { name: "daily", limit: 5, windowSeconds: 86_400 },
  ],
  // The export of one's data reads every row one has (OWASP API4:2023): a few a day are plenty.
  export: [
    { name: "burst", limit: 2, windowSeconds: 60 },
    { name: "daily", limit: 10, windowSeconds: 86_400 },
  ],
  // `/ready` per client address: generous for load balancers, which probe every few seconds from
  // each of their locations, but bounded, since it touches every dependency (OWASP API4:2023).
  probe: [{ name: "probe", limit: 30, windowSeconds: 10 }],
} satisfies Policies;

/** A built-in policy's name: what a route may declare as its `rateLimit`. */
export type PolicyName = keyof typeof DEFAULT_POLICIES;

/**
 * Policies of routes that take credentials (passwords, codes, refresh tokens) or create
 * accounts. When the limiter is unreachable they fail closed (RATE_LIMIT_CREDENTIAL_FAILURE_MODE):
 * they are what guessing, password spraying and sign-up floods go through, and each costs a
 * PBKDF2 derivation; every other route fails open (RATE_LIMIT_FAILURE_MODE) so that an outage of
 * the limiter does not take the API down for signed-in users.
 */
export const CREDENTIAL_POLICIES: ReadonlySet<string> = new Set<PolicyName>(["auth", "token"]);
