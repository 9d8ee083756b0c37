import {
  base64url,
  type CryptoKey,
  createLocalJWKSet,
  errors,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  jwtVerify,
  SignJWT,
} from "jose";
import type { UserRole } from "../db/schema/users.ts";

/** The only signing algorithm: asymmetric, so other services verify with the public keys alone. */
export const ALGORITHM = "ES256";
/** RFC 9068 access tokens, and our MFA challenge tokens: the type is checked, so one can never pass as the other. */
const ACCESS_TYPE = "at+jwt";
const MFA_TYPE = "mfa+jwt";
const CLOCK_TOLERANCE_SECONDS = 30;
const MFA_TOKEN_TTL_SECONDS = 300;

export interface TokenSettings {
  issuer: string;
  audience: string;
  /**
   * The `client_id` claim of access tokens (RFC 9068 §2.2 requires it): the client the token was
   * issued to. The token endpoint serves one public client, our own apps (`OAUTH_CLIENT_ID`).
   */
  clientId: string;
  /** Private JWKs, newest first: the first signs, all verify (rotation). Each needs a `kid`. */
  signingKeys: JWK[];
  accessTokenTtlSeconds: number;
}

export interface AccessClaims {
  /** User id. */
  sub: string;
  /** Session id in the SESSIONS Durable Object. */
  sid: string;
  role: UserRole;
  /** Space-separated permissions, as OAuth scopes. */
  scope: string;
  /** The client the token is issued to (RFC 9068 §2.2 `client_id`); default `TokenSettings.clientId`. */
  clientId?: string;
}

/** What an ID token says (OpenID Connect Core §2, §3.1.3.6). */
export interface IdTokenClaims {
  /** User id. */
  sub: string;
  /** The client (the token's `aud`). */
  clientId: string;
  /** When the user authenticated, epoch seconds. */
  authTime: number;
  nonce: string | null;
  /** RFC 8176 methods: `pwd`, `otp`, `mfa`. */
  amr: string[];
  /** The access token issued with it: its `at_hash` is computed from it. */
  accessToken: string;
  /** Session id (OpenID Connect Front-Channel Logout §3 `sid`). */
  sid: string;
}

export interface VerifiedAccess extends AccessClaims {
  jti: string;
  exp: number;
  iat: number;
  clientId: string;
}

/** Why a token was refused; `description` goes into WWW-Authenticate. */
export class InvalidTokenError extends Error {
  readonly description: string;
  constructor(description: string, options?: { cause?: unknown }) {
    super(description, options);
    this.name = "InvalidTokenError";
    this.description = description;
  }
}

export interface TokenManager {
  issueAccessToken(claims: AccessClaims): Promise<{ token: string; expiresIn: number }>;
  verifyAccessToken(token: string): Promise<VerifiedAccess>;
  /** An OpenID Connect ID token (`typ: JWT`, `aud` the client), as long-lived as an access token. */
  issueIdToken(claims: IdTokenClaims): Promise<string>;
  /**
   * A short-lived token proving the first step of an MFA login: the password, or with `provider`
   * (an `OIDC_PROVIDERS` id, the `idp` claim) a third-party login.
   */
  issueMfaToken(userId: string, provider?: string): Promise<string>;
  /**
   * `jti` and `exp` (epoch seconds) let the caller accept the token once (see Sessions.createOnce);
   * `provider` when the first step was a third-party login.
   * @throws InvalidTokenError for a token that is not a valid, unexpired MFA token of ours
   */
  verifyMfaToken(token: string): Promise<{ userId: string; jti: string; exp: number; provider: string | undefined }>;
  /** Public keys for `/.well-known/jwks.json`: current and previous. */
  publicJwks(): JSONWebKeySet;
}

const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "k"] as const;

function toPublic(jwk: JWK): JWK {
  const copy: Record<string, unknown> = { ...jwk, alg: ALGORITHM, use: "sig" };
  for (const member of PRIVATE_MEMBERS) delete copy[member];
  delete copy.key_ops;
  return copy as JWK;
}

function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return "the token has expired";
  if (error instanceof errors.JWTClaimValidationFailed) return `the token's "${error.claim}" claim is not valid`;
  if (error instanceof errors.JWSSignatureVerificationFailed) return "the token's signature is not valid";
  if (error instanceof errors.JWKSNoMatchingKey) return "the token is signed with an unknown key";
  if (error instanceof errors.JOSEAlgNotAllowed) return "the token's algorithm is not accepted";
  return "the token is malformed";
}

// The manager of the settings in force, by the settings object (the configuration is parsed once
// per bindings object) and by their content: a new bindings object with the same keys imports
// nothing again, and a changed key (rotation) is imported once, replacing the previous manager.
const bySettings = new WeakMap<TokenSettings, Promise<TokenManager>>();
let latest: { material: string; manager: Promise<TokenManager> } | undefined;

/**
 * The token manager for `settings`: its keys are imported once per isolate (WebCrypto's
 * `importKey` through jose: the signing key at once, each verification key at its first use), not
 * per request; another key in the configuration is picked up at the next request.
 *
 * @returns a promise rejected with an Error when the settings hold no signing key with a `kid`.
 */
export function tokenManager(settings: TokenSettings): Promise<TokenManager> {
  const known = bySettings.get(settings);
  if (known) return known;
  const material = JSON.stringify(settings);
  if (latest?.material !== material) latest = { material, manager: createTokenManager(settings) };
  bySettings.set(settings, latest.manager);
  return latest.manager;
}

async function createTokenManager(settings: TokenSettings): Promise<TokenManager> {
  const [current] = settings.signingKeys;
  if (!current?.kid) throw new Error("JWT_SIGNING_KEYS needs at least one key, each with a kid");
  const signingKey = (await importJWK({ ...current, alg: ALGORITHM }, ALGORITHM)) as CryptoKey;
  const jwks: JSONWebKeySet = { keys: settings.signingKeys.map(toPublic) };
  const keyFor = createLocalJWKSet(jwks);

  const sign = (payload: Record<string, unknown>, type: string, ttlSeconds: number, subject: string) =>
    new SignJWT(payload)
      .setProtectedHeader({ alg: ALGORITHM, kid: current.kid, typ: type })
      .setIssuer(settings.issuer)
      .setAudience(settings.audience)
      .setSubject(subject)
      .setJti(crypto.randomUUID())
      .setIssuedAt()
      .setNotBefore("0s")
      .setExpirationTime(`${ttlSeconds}s`)
      .sign(signingKey);

  const verify = async (token: string, type: string) => {
    try {
      const { payload } = await jwtVerify(token, keyFor, {
        algorithms: [ALGORITHM],
        issuer: settings.issuer,
        audience: settings.audience,
        typ: type,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ["sub", "jti", "exp", "iat", "nbf"],
      });
      return payload;
    } catch (error) {
      throw new InvalidTokenError(describe(error), { cause: error });
    }
  };

  return {
    async issueAccessToken(claims) {
      const { sub, clientId, ...rest } = claims;
      const token = await sign(
        { ...rest, client_id: clientId ?? settings.clientId },
        ACCESS_TYPE,
        settings.accessTokenTtlSeconds,
        sub,
      );
      return { token, expiresIn: settings.accessTokenTtlSeconds };
    },
    async verifyAccessToken(token) {
      const payload = await verify(token, ACCESS_TYPE);
      const { sub, sid, role, scope, jti, exp, iat, client_id: clientId } = payload;
      if (
        typeof iat !== "number" ||
        typeof sub !== "string" ||
        typeof sid !== "string" ||
        (role !== "user" && role !== "admin") ||
        typeof scope !== "string" ||
        typeof jti !== "string" ||
        typeof exp !== "number"
      ) {
        throw new InvalidTokenError("the token lacks required claims");
      }
      // Every token we issue names its client (RFC 9068 §2.2); one without is our first party's.
      return {
        sub,
        sid,
        role,
        scope,
        jti,
        exp,
        iat,
        clientId: typeof clientId === "string" ? clientId : settings.clientId,
      };
    },
    async issueIdToken(claims) {
      // OpenID Connect Core §3.1.3.6: the left half of the access token's SHA-256, base64url.
      const digest = new Uint8Array(
        await crypto.subtle.digest("SHA-256", new TextEncoder().encode(claims.accessToken)),
      );
      return new SignJWT({
        auth_time: claims.authTime,
        amr: claims.amr,
        at_hash: base64url.encode(digest.slice(0, digest.length / 2)),
        sid: claims.sid,
        ...(claims.nonce === null ? {} : { nonce: claims.nonce }),
      })
        .setProtectedHeader({ alg: ALGORITHM, kid: current.kid, typ: "JWT" })
        .setIssuer(settings.issuer)
        .setAudience(claims.clientId)
        .setSubject(claims.sub)
        .setIssuedAt()
        .setExpirationTime(`${settings.accessTokenTtlSeconds}s`)
        .sign(signingKey);
    },
    issueMfaToken: (userId, provider) =>
      sign(provider ? { idp: provider } : {}, MFA_TYPE, MFA_TOKEN_TTL_SECONDS, userId),
    async verifyMfaToken(token) {
      const { sub, jti, exp, idp } = await verify(token, MFA_TYPE);
      if (typeof sub !== "string" || typeof jti !== "string" || typeof exp !== "number") {
        throw new InvalidTokenError("the token lacks required claims");
      }
      return { userId: sub, jti, exp, provider: typeof idp === "string" ? idp : undefined };
    },
    publicJwks: () => jwks,
  };
}
