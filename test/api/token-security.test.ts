import {
  base64url,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  SignJWT,
} from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { tokenManager } from "../../src/auth/tokens.ts";
import { stepAt, totpCode } from "../../src/auth/totp.ts";
import { loadApiConfig } from "../../src/pkg/config/config.ts";
import { createApiKey, expiredKeyOf } from "../api-key-helpers.ts";
import { bearer, login, randomIp, register, signedIn, signedInAdmin } from "../auth-helpers.ts";
import { api, apiWith, expectProblem, testEnv } from "../helpers.ts";

const [currentKey, previousKey] = JSON.parse(testEnv.JWT_SIGNING_KEYS) as JWK[];
const publicOf = ({ d: _d, ...jwk }: JWK) => jwk;

let session: { sub: string; sid: string; token: string };

beforeAll(async () => {
  const { tokens } = await signedIn();
  const claims = decodeJwt(tokens.access_token);
  session = { sub: String(claims.sub), sid: String(claims.sid), token: tokens.access_token };
});

/** A token like ours (same sub and live sid), changed by `tweak`. */
async function forge(tweak: {
  key?: JWK;
  kid?: string;
  typ?: string;
  claims?: Record<string, unknown>;
  expiresIn?: string;
  notBefore?: string;
}) {
  const key = tweak.key ?? currentKey;
  const jwt = new SignJWT({ sid: session.sid, role: "user", scope: "", ...tweak.claims })
    .setProtectedHeader({ alg: "ES256", kid: tweak.kid ?? key?.kid ?? "", typ: tweak.typ ?? "at+jwt" })
    .setIssuer(String(tweak.claims?.iss ?? testEnv.JWT_ISSUER))
    .setAudience(String(tweak.claims?.aud ?? testEnv.JWT_AUDIENCE))
    .setSubject(session.sub)
    .setJti(crypto.randomUUID())
    .setIssuedAt()
    .setNotBefore(tweak.notBefore ?? "0s")
    .setExpirationTime(tweak.expiresIn ?? "5m");
  return jwt.sign(await importJWK(key ?? {}, "ES256"));
}

async function refused(token: string, description: RegExp) {
  const res = await api("/users/me", { headers: { authorization: `Bearer ${token}` } });
  await expectProblem(res, 401);
  const challenge = res.headers.get("www-authenticate") ?? "";
  expect(challenge).toMatch(/^Bearer realm="techcorp-api", error="invalid_token", error_description="/);
  expect(challenge).toMatch(description);
}

describe("signing keys", () => {
  it("are imported once per isolate, whichever bindings object carries them", async () => {
    // Each request of `apiWith` has its own bindings object, hence its own parsed configuration.
    const settings = loadApiConfig({ ...testEnv }).auth.tokens;
    const again = loadApiConfig({ ...testEnv }).auth.tokens;
    expect(again).not.toBe(settings);
    expect(await tokenManager(again)).toBe(await tokenManager(settings));
  });

  it("a changed key in the configuration is picked up, and tokens of the keys it lists verify", async () => {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const newKey = { ...(await exportJWK(privateKey)), kid: `rotated-${crypto.randomUUID()}` };
    const rotated = { JWT_SIGNING_KEYS: JSON.stringify([newKey, currentKey]) } as Partial<Env>;
    expect(await tokenManager(loadApiConfig({ ...testEnv, ...rotated }).auth.tokens)).not.toBe(
      await tokenManager(loadApiConfig(testEnv).auth.tokens),
    );

    const { user, password } = await register();
    const login = await apiWith(rotated, "/auth/token", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": randomIp() },
      body: new URLSearchParams({ grant_type: "password", username: user.username, password }).toString(),
    });
    expect(login.status).toBe(200);
    const { access_token } = (await login.json()) as { access_token: string };
    expect(decodeProtectedHeader(access_token).kid).toBe(newKey.kid);
    expect((await apiWith(rotated, "/users/me", { headers: bearer(access_token) })).status).toBe(200);
    // A token of the key now second in the list still verifies.
    expect((await apiWith(rotated, "/users/me", { headers: bearer(session.token) })).status).toBe(200);
    // Back to the configuration without the new key: its tokens are refused again.
    await refused(access_token, /unknown key/);
    expect((await api("/users/me", { headers: bearer(session.token) })).status).toBe(200);
  });
});

describe("access tokens", () => {
  it("a well-formed token of ours is accepted (the baseline for the cases below)", async () => {
    expect((await api("/users/me", { headers: { authorization: `Bearer ${await forge({})}` } })).status).toBe(200);
  });

  it("signed with the previous key still verifies (rotation)", async () => {
    const token = await forge({ key: previousKey });
    expect((await api("/users/me", { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  it('with alg "none" is refused', async () => {
    const header = base64url.encode(JSON.stringify({ alg: "none", typ: "at+jwt" }));
    const payload = session.token.split(".")[1];
    await refused(`${header}.${payload}.`, /algorithm|malformed/);
  });

  it("HS256-signed with our public key as the secret is refused", async () => {
    const publicJwk = JSON.stringify(publicOf(currentKey ?? {}));
    const header = decodeProtectedHeader(session.token);
    const token = await new SignJWT(decodeJwt(session.token))
      .setProtectedHeader({ ...header, alg: "HS256" })
      .sign(new TextEncoder().encode(publicJwk));
    await refused(token, /algorithm/);
  });

  it("expired is refused", async () => {
    await refused(await forge({ expiresIn: "-5m" }), /expired/);
  });

  it("not yet valid is refused", async () => {
    await refused(await forge({ notBefore: "10m" }), /'nbf'/);
  });

  it("for another audience is refused", async () => {
    await refused(await forge({ claims: { aud: "some-other-api" } }), /'aud'/);
  });

  it("from another issuer is refused", async () => {
    await refused(await forge({ claims: { iss: "https://evil.example" } }), /'iss'/);
  });

  it("with an unknown kid is refused", async () => {
    await refused(await forge({ kid: "not-a-key-of-ours" }), /unknown key/);
  });

  it("signed by a key that is not ours (but claiming our kid) is refused", async () => {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    await refused(await forge({ key: { ...(await exportJWK(privateKey)), kid: currentKey?.kid ?? "" } }), /signature/);
  });

  it("tampered with (role raised) is refused", async () => {
    const [header, payload, signature] = session.token.split(".");
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload ?? ""))) as Record<string, unknown>;
    const raised = base64url.encode(JSON.stringify({ ...claims, role: "admin" }));
    await refused(`${header}.${raised}.${signature}`, /signature/);
  });

  it("of another type (an MFA challenge token) is refused", async () => {
    await refused(await forge({ typ: "mfa+jwt" }), /'typ'/);
  });

  it("whose session no longer exists is refused", async () => {
    await refused(await forge({ claims: { sid: crypto.randomUUID() } }), /session has ended/);
  });

  it("that is not a Bearer token at all is refused", async () => {
    await refused("not a token at all", /not a Bearer token/);
  });

  it("under another scheme (Basic) is no Bearer credential: a bare challenge, without an error code", async () => {
    // RFC 6750 §3.1: a request using an unsupported authentication method gets no error information.
    const res = await api("/users/me", { headers: { authorization: "Basic dXNlcjpwYXNz" } });
    await expectProblem(res, 401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="techcorp-api"');
  });
});

/** The parts of the OpenAPI document the sweep reads. */
interface ParameterObject {
  name: string;
  in: string;
  required?: boolean;
  schema?: { type?: string; format?: string; enum?: unknown[]; example?: unknown; minimum?: number };
}
interface OperationObject {
  security?: Record<string, unknown>[];
  parameters?: ParameterObject[];
  requestBody?: { required?: boolean; content: Record<string, unknown> };
}

/** A protected operation and a well-formed request to it (the body made afresh for each send). */
interface ProtectedOperation {
  key: string;
  method: string;
  path: string;
  body?: () => { body: BodyInit; headers: Record<string, string> };
}

/**
 * Well-formed JSON bodies of the operations that require one: valid for their schema, so that a
 * route without its guard would answer something else than 401. A new operation with a body
 * needs its entry here (the sweep says so).
 */
const JSON_BODIES: Record<string, unknown> = {
  "POST /auth/mfa/confirm": { code: "123456" },
  "POST /auth/mfa/disable": { code: "123456" },
  "POST /auth/mfa/recovery-codes": { code: "123456" },
  "POST /users/me/password": { currentPassword: "swept", newPassword: "a swept passphrase" },
  "PUT /users/{id}/password": { password: "a swept passphrase" },
  "PATCH /users/me": { displayName: "Swept" },
  "PATCH /users/{id}": { displayName: "Swept" },
  "PUT /users/{id}/role": { role: "user" },
  "PATCH /documents/{id}": { title: "Swept" },
  "PUT /documents/{id}/shares": { user: "nobody@example.com", access: "read" },
  "POST /webhooks": { url: "https://example.com/hooks/sweep", events: ["document.ready"] },
  "PATCH /webhooks/{id}": { active: false },
  "POST /search/clicks": { queryId: crypto.randomUUID(), documentId: crypto.randomUUID(), position: 1 },
  "POST /analytics/search/suppressed-queries": { phrase: `sweep ${crypto.randomUUID()}` },
  "POST /uploads": { contentType: "text/plain", size: 10, sha256: "0".repeat(64) },
  "POST /documents/{id}/move": { projectId: null },
  "POST /projects": { name: "Swept" },
  "PATCH /projects/{id}": { name: "Swept" },
  "PATCH /projects/{id}/members/{userId}": { role: "viewer" },
  "POST /projects/{id}/transfer": { userId: crypto.randomUUID() },
  "POST /projects/{id}/invitations": { login: "nobody@example.com", role: "viewer" },
  "POST /api-keys": { name: "Swept", scopes: ["read"] },
  "POST /users/me/email": { email: "nobody@example.com", currentPassword: "swept" },
};

/** A value of a path or query parameter that its schema accepts: its example, an enum member, a uuid, an integer. */
function sampleValue(key: string, parameter: ParameterObject): string {
  const schema = parameter.schema ?? {};
  if (schema.example !== undefined) return String(schema.example);
  if (schema.enum?.length) return String(schema.enum[0]);
  if (schema.format === "uuid") return crypto.randomUUID();
  if (schema.type === "integer") return String(schema.minimum ?? 1);
  throw new Error(`${key}: no well-formed value known for the ${parameter.in} parameter "${parameter.name}"`);
}

/**
 * Operations whose body is a second factor: the control (a fresh administrator, MFA on, as staff
 * must be) sends a code valid now, since a wrong one is a 400 of the route itself.
 */
const SECOND_FACTOR_BODIES: ReadonlySet<string> = new Set(["POST /auth/mfa/disable", "POST /auth/mfa/recovery-codes"]);

async function withCurrentCode(op: ProtectedOperation, secret: string): Promise<ProtectedOperation> {
  const code = await totpCode(secret, stepAt(Date.now()));
  return { ...op, body: () => ({ body: JSON.stringify({ code }), headers: { "content-type": "application/json" } }) };
}

/** A well-formed body for the operation's required request body, by its media types. */
function sampleBody(key: string, content: Record<string, unknown>): ProtectedOperation["body"] {
  if ("application/json" in content) {
    if (!(key in JSON_BODIES)) throw new Error(`${key}: add a well-formed body to JSON_BODIES`);
    return () => ({ body: JSON.stringify(JSON_BODIES[key]), headers: { "content-type": "application/json" } });
  }
  if ("multipart/form-data" in content) {
    return () => {
      const form = new FormData();
      form.set("file", new File(["# Swept\n"], "swept.md", { type: "text/markdown" }));
      return { body: form, headers: {} };
    };
  }
  if ("application/octet-stream" in content) {
    return () => ({ body: new TextEncoder().encode("swept"), headers: { "content-type": "application/octet-stream" } });
  }
  throw new Error(`${key}: no well-formed body known for ${Object.keys(content).join(", ")}`);
}

/**
 * Every operation of the served OpenAPI document that needs a Bearer token. `{}` among the
 * requirements makes the token optional (OpenAPI 3.1 §4.8.10): `/ready` answers anyone, and an
 * administrator's token only adds details.
 */
function protectedOperationsOf(doc: { paths: Record<string, Record<string, OperationObject>> }): ProtectedOperation[] {
  return Object.entries(doc.paths).flatMap(([template, item]) =>
    Object.entries(item)
      .filter(([, op]) => op.security?.some((requirement) => "bearerAuth" in requirement))
      .filter(([, op]) => !op.security?.some((requirement) => Object.keys(requirement).length === 0))
      .map(([method, op]): ProtectedOperation => {
        const key = `${method.toUpperCase()} ${template}`;
        const parameters = op.parameters ?? [];
        let path = template;
        for (const parameter of parameters.filter((p) => p.in === "path")) {
          path = path.replace(`{${parameter.name}}`, encodeURIComponent(sampleValue(key, parameter)));
        }
        const query = new URLSearchParams(
          parameters.filter((p) => p.in === "query" && p.required).map((p) => [p.name, sampleValue(key, p)]),
        ).toString();
        if (query) path += `?${query}`;
        const body = op.requestBody?.required ? sampleBody(key, op.requestBody.content) : undefined;
        return { key, method: method.toUpperCase(), path, ...(body ? { body } : {}) };
      }),
  );
}

/** Sends the operation's well-formed request from a fresh client address (no rate limit couples the cases). */
function send(op: ProtectedOperation, token: string | undefined): Promise<Response> {
  const sent = op.body?.();
  const headers: Record<string, string> = { "cf-connecting-ip": randomIp(), ...sent?.headers };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  return api(op.path, { method: op.method, headers, ...(sent ? { body: sent.body } : {}) });
}

const protectedOperations = protectedOperationsOf(
  (await (await api("/openapi.json")).json()) as { paths: Record<string, Record<string, OperationObject>> },
);

describe(`every one of the ${protectedOperations.length} protected routes of /openapi.json`, () => {
  /** Tokens refused for one reason each, and the `error_description` that names it. */
  let badTokens: { name: string; token: string; reason: RegExp }[];
  /**
   * Live API keys of an administrator (who holds every permission) that lack what a route needs:
   * `readOnly` has no `write` and no permission; `permissionOnly` holds `analytics:read` alone,
   * so not `read` either. Every protected route refuses one of them with 403 (`outOfScopeKey`).
   */
  let scopeKeys: { readOnly: string; permissionOnly: string };
  const outOfScopeKey = (op: ProtectedOperation) =>
    op.method === "GET" && !op.path.startsWith("/analytics/") ? scopeKeys.permissionOnly : scopeKeys.readOnly;

  beforeAll(async () => {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const [header, payload, signature] = session.token.split(".");
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload ?? ""))) as Record<string, unknown>;
    // A second session of a user, ended by logging out: its token is well signed and unexpired.
    const { user, password } = await register();
    const revoked = (await login(user.username, password)).access_token;
    expect((await api("/auth/logout", { method: "POST", headers: bearer(revoked) })).status).toBe(204);
    // API keys: one revoked, one expired, one whose checksum does not match, and two out of scope.
    const keyOwner = await signedInAdmin();
    const revokedKey = await createApiKey(keyOwner.auth);
    expect((await api(`/api-keys/${revokedKey.id}`, { method: "DELETE", headers: keyOwner.auth })).status).toBe(204);
    const liveKey = (await createApiKey(keyOwner.auth)).key;
    const malformedKey = `${liveKey.slice(0, -1)}${liveKey.endsWith("0") ? "1" : "0"}`;
    scopeKeys = {
      readOnly: (await createApiKey(keyOwner.auth, { scopes: ["read"] })).key,
      permissionOnly: (await createApiKey(keyOwner.auth, { scopes: ["analytics:read"] })).key,
    };
    badTokens = [
      { name: "API key, revoked", token: revokedKey.key, reason: /unknown, revoked or expired/ },
      { name: "API key, expired", token: await expiredKeyOf(keyOwner.user.id), reason: /unknown, revoked or expired/ },
      { name: "API key, malformed (checksum)", token: malformedKey, reason: /malformed/ },
      { name: "expired", token: await forge({ expiresIn: "-5m" }), reason: /expired/ },
      {
        name: "forged (a key we do not hold, claiming our kid)",
        token: await forge({ key: { ...(await exportJWK(privateKey)), kid: currentKey?.kid ?? "" } }),
        reason: /signature/,
      },
      {
        name: "tampered (role raised)",
        token: `${header}.${base64url.encode(JSON.stringify({ ...claims, role: "admin" }))}.${signature}`,
        reason: /signature/,
      },
      { name: "for another audience", token: await forge({ claims: { aud: "some-other-api" } }), reason: /'aud'/ },
      { name: "revoked (its session logged out)", token: revoked, reason: /session has ended/ },
    ];
  });

  it("are found (the sweep covers the whole API)", () => {
    expect(protectedOperations.length).toBeGreaterThan(50);
  });

  for (const op of protectedOperations) {
    it(`${op.key} refuses a missing, expired, forged, tampered, wrong-audience and revoked token and a revoked, expired or malformed API key with 401, an API key out of scope with 403`, async () => {
      // The control's caller (below), signed in meanwhile.
      const admin = signedInAdmin();
      const missing = await send(op, undefined);
      await expectProblem(missing, 401);
      // RFC 6750 §3.1: a request without credentials gets the challenge without an error code.
      expect(missing.headers.get("www-authenticate"), `${op.key} without a token`).toBe('Bearer realm="techcorp-api"');

      await Promise.all(
        badTokens.map(async ({ name, token, reason }) => {
          const res = await send(op, token);
          expect(res.status, `${op.key} with a token ${name}`).toBe(401);
          await expectProblem(res, 401);
          const challenge = res.headers.get("www-authenticate") ?? "";
          expect(challenge, `${op.key} with a token ${name}`).toMatch(
            /^Bearer realm="techcorp-api", error="invalid_token", error_description="/,
          );
          expect(challenge, `${op.key} with a token ${name}`).toMatch(reason);
        }),
      );

      const outOfScope = await send(op, outOfScopeKey(op));
      expect(outOfScope.status, `${op.key} with an API key out of scope: ${await outOfScope.clone().text()}`).toBe(403);
      await expectProblem(outOfScope, 403);

      // The control: the same request with a valid token (a fresh administrator's, so neither a
      // permission nor another test's state is in the way) passes the guard and the validation,
      // so the 401s above came from the token alone.
      const controlAdmin = await admin;
      const control = await send(
        SECOND_FACTOR_BODIES.has(op.key) ? await withCurrentCode(op, controlAdmin.mfaSecret) : op,
        controlAdmin.tokens.access_token,
      );
      const answer = `${op.key} with a valid token: ${control.status} ${await control.text()}`;
      expect([400, 401, 415], answer).not.toContain(control.status);
      expect(control.status, answer).toBeLessThan(500);
    });
  }
});
