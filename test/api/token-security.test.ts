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
import { loadApiConfig } from "../../src/pkg/config/config.ts";
import { bearer, randomIp, register, signedIn } from "../auth-helpers.ts";
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

describe("every protected route", () => {
  it("refuses a missing, expired, forged or foreign token with 401 and WWW-Authenticate", async () => {
    const doc = (await (await api("/openapi.json")).json()) as {
      paths: Record<string, Record<string, { security?: unknown[] }>>;
    };
    const protectedOperations = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item)
        // `{}` among the requirements makes the token optional (OpenAPI 3.1 §4.8.10): `/ready` answers
        // anyone, and an administrator's token only adds details.
        .filter(
          ([, op]) =>
            op.security?.length && !op.security.some((requirement) => Object.keys(requirement as object).length === 0),
        )
        .map(([method, _]) => ({
          method: method.toUpperCase(),
          path: path.replace(/\{[^}]+\}/g, crypto.randomUUID()),
        })),
    );
    expect(protectedOperations.length).toBeGreaterThan(10);
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const tokens = [
      undefined,
      await forge({ expiresIn: "-1m" }),
      `${session.token.slice(0, -4)}AAAA`,
      await forge({ key: { ...(await exportJWK(privateKey)), kid: currentKey?.kid ?? "" } }),
    ];
    for (const { method, path } of protectedOperations) {
      for (const token of tokens) {
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (token) headers.authorization = `Bearer ${token}`;
        const res = await api(path, { method, headers, ...(method === "GET" ? {} : { body: "{}" }) });
        expect(res.status, `${method} ${path} with ${token ? "a bad" : "no"} token`).toBe(401);
        expect(res.headers.get("www-authenticate")).toMatch(/^Bearer realm=/);
      }
    }
  });
});
