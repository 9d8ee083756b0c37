import { describe, expect, it } from "vitest";
import { authenticateClient, redirectUriAllowed } from "../../src/auth/clients.ts";
import { parseScope, SUPPORTED_SCOPES } from "../../src/auth/scopes.ts";
import { ConfigError, loadApiConfig } from "../../src/pkg/config/config.ts";
import { testEnv } from "./env.ts";

const valid = () => ({ ...testEnv }) as Record<string, unknown>;
const registry = () => JSON.parse(testEnv.OAUTH_CLIENTS) as Record<string, unknown>[];

function problemsOf(env: Record<string, unknown>): string[] {
  try {
    loadApiConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error("configuration was accepted");
}

const withClients = (clients: Record<string, unknown>[], secrets: Record<string, string> = {}) => ({
  ...valid(),
  OAUTH_CLIENTS: JSON.stringify(clients),
  OAUTH_CLIENT_SECRETS: JSON.stringify(secrets),
});

const SECRET = "s".repeat(40);

describe("the OAuth client registry's configuration (fails closed)", () => {
  it("parses the local registry, each confidential client with its secret", () => {
    const { clients } = loadApiConfig(valid()).auth;
    expect(clients.map((client) => client.id)).toEqual([
      "techcorp-first-party",
      "techcorp-mobile",
      "techcorp-cli",
      "techcorp-resource-server",
    ]);
    expect(clients.find((client) => client.type === "confidential")?.secret).toMatch(/.{32,}/);
    expect(clients.filter((client) => client.type === "public").every((client) => !client.secret)).toBe(true);
  });

  it("registers default scopes that are supported ones (the production registry is the same: test/node/deploy-config.test.ts)", () => {
    const { clients } = loadApiConfig(valid()).auth;
    for (const client of clients) {
      expect(SUPPORTED_SCOPES, client.id).toEqual(expect.arrayContaining(client.defaultScopes));
    }
  });

  it("a request naming no scope asks for the client's default scopes; one naming scopes, for those alone (RFC 6749 §3.3)", () => {
    const client = { defaultScopes: ["openid", "read", "write"] };
    expect(parseScope(undefined, client)).toEqual(["openid", "read", "write"]);
    expect(parseScope("openid openid read", client)).toEqual(["openid", "read"]);
    expect(parseScope("", client)).toEqual([]);
    expect(parseScope("openid delete-everything", client)).toBeUndefined();
    expect(parseScope(undefined, { defaultScopes: ["not-a-scope"] })).toBeUndefined();
  });

  it("refuses a default scope that is not a scope token (RFC 6749 §3.3)", () => {
    const [web] = registry();
    expect(problemsOf(withClients([{ ...web, defaultScopes: ["read write"] }]))).toEqual([
      expect.stringMatching(/^OAUTH_CLIENTS\.0\.defaultScopes\.0: a scope token/),
    ]);
  });

  it("without a registry, is the first-party client alone, with the grants it had", () => {
    const { clients } = loadApiConfig({ ...valid(), OAUTH_CLIENTS: "", OAUTH_CLIENT_SECRETS: "" }).auth;
    expect(clients).toEqual([expect.objectContaining({ id: "techcorp-first-party", type: "public" })]);
    expect(clients[0]?.grantTypes).toContain("password");
  });

  it("refuses a confidential client without a secret, and a public one with a secret", () => {
    const [web, , , server] = registry();
    expect(problemsOf(withClients([web ?? {}, server ?? {}]))).toEqual([
      "OAUTH_CLIENT_SECRETS: no secret for techcorp-resource-server",
    ]);
    expect(problemsOf(withClients([web ?? {}], { "techcorp-first-party": SECRET }))).toEqual([
      "OAUTH_CLIENT_SECRETS: techcorp-first-party is a public client",
    ]);
  });

  it("keeps the password grant to the first-party client", () => {
    const [web, mobile] = registry();
    const problems = problemsOf(withClients([web ?? {}, { ...mobile, grantTypes: ["password"] }]));
    expect(problems).toEqual([expect.stringMatching(/^OAUTH_CLIENTS\.1\.grantTypes: the password and MFA grants/)]);
  });

  it("refuses duplicate ids, a registry without OAUTH_CLIENT_ID, and code clients without redirect URIs", () => {
    const [web, mobile] = registry();
    expect(problemsOf(withClients([web ?? {}, web ?? {}]))).toEqual([
      expect.stringMatching(/^OAUTH_CLIENTS\.1\.id: client id techcorp-first-party is registered twice/),
    ]);
    expect(problemsOf(withClients([mobile ?? {}]))).toEqual(["OAUTH_CLIENTS: must register OAUTH_CLIENT_ID"]);
    expect(problemsOf(withClients([web ?? {}, { ...mobile, redirectUris: [] }]))).toEqual([
      "OAUTH_CLIENTS.1.redirectUris: the authorization_code grant needs a redirect URI",
    ]);
  });

  it("allows loopback and private-use redirect URIs for native clients only, and never a fragment or plain http", () => {
    const [web, mobile] = registry();
    for (const uri of ["com.techcorp.app:/cb", "http://app.example/cb"]) {
      expect(problemsOf(withClients([{ ...web, redirectUris: [uri] }]))).toEqual([
        expect.stringMatching(/^OAUTH_CLIENTS\.0\.redirectUris\.0: https \(for a web client outside production/),
      ]);
    }
    for (const uri of ["http://app.example/cb", "http://localhost/cb", "myapp:/cb"]) {
      expect(problemsOf(withClients([web ?? {}, { ...mobile, redirectUris: [uri] }]))).toEqual([
        expect.stringMatching(/^OAUTH_CLIENTS\.1\.redirectUris\.0: /),
      ]);
    }
    expect(problemsOf(withClients([{ ...web, redirectUris: ["https://app.example/cb#x"] }]))).toEqual([
      expect.stringMatching(/^OAUTH_CLIENTS\.0\.redirectUris\.0: an absolute URI without a fragment/),
    ]);
  });

  it("lets a web client name http on localhost or a loopback IP outside production only (the web app under npm run dev)", () => {
    const [web] = registry();
    const local = ["http://localhost:8787/sign-in/callback", "http://127.0.0.1:41234/sign-in/callback"];
    const clients = withClients([{ ...web, redirectUris: local }]);
    expect(loadApiConfig(clients).auth.clients[0]?.redirectUris).toEqual(local);
    expect(problemsOf({ ...clients, ENVIRONMENT: "production" })).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^OAUTH_CLIENTS\.0\.redirectUris\.0: https \(/),
        expect.stringMatching(/^OAUTH_CLIENTS\.0\.redirectUris\.1: https \(/),
      ]),
    );
  });
});

describe("redirect URI matching", () => {
  const { clients } = loadApiConfig(valid()).auth;
  const [web, mobile] = clients;

  it("is exact for a web client", () => {
    if (!web) throw new Error("no web client");
    const registered = web.redirectUris[0] ?? "";
    expect(redirectUriAllowed(web, registered)).toBe(true);
    for (const other of [
      `${registered}/`,
      `${registered}?a=1`,
      registered.toUpperCase(),
      registered.replace("https", "http"),
    ]) {
      expect(redirectUriAllowed(web, other)).toBe(false);
    }
  });

  it("ignores only the port of a native client's loopback URI (RFC 8252 §7.3)", () => {
    if (!mobile) throw new Error("no mobile client");
    expect(redirectUriAllowed(mobile, "http://127.0.0.1:49152/oauth/callback")).toBe(true);
    expect(redirectUriAllowed(mobile, "http://127.0.0.1/oauth/callback")).toBe(true);
    expect(redirectUriAllowed(mobile, "com.techcorp.app:/oauth/callback")).toBe(true);
    for (const other of [
      "http://127.0.0.1:49152/oauth/other",
      "http://localhost:49152/oauth/callback",
      "http://127.0.0.1:49152/oauth/callback?x=1",
      "https://127.0.0.1:49152/oauth/callback",
      "com.techcorp.app:/oauth/callback/x",
    ]) {
      expect(redirectUriAllowed(mobile, other)).toBe(false);
    }
  });
});

describe("client authentication", () => {
  const auth = loadApiConfig(valid()).auth;
  const secret = auth.clients.find((client) => client.id === "techcorp-resource-server")?.secret ?? "";
  const basic = (id: string, password: string) =>
    `Basic ${btoa(`${encodeURIComponent(id)}:${encodeURIComponent(password)}`)}`;

  it("authenticates a confidential client by client_secret_basic", async () => {
    const client = await authenticateClient(auth, { authorization: basic("techcorp-resource-server", secret) });
    expect(client.id).toBe("techcorp-resource-server");
  });

  it("refuses a wrong secret, a confidential client without one, an unknown client, and two different ids", async () => {
    const refusals = [
      authenticateClient(auth, { authorization: basic("techcorp-resource-server", `${secret}x`) }),
      authenticateClient(auth, { clientId: "techcorp-resource-server" }),
      authenticateClient(auth, { clientId: "nobody" }),
      authenticateClient(auth, {
        clientId: "techcorp-mobile",
        authorization: basic("techcorp-resource-server", secret),
      }),
      authenticateClient(auth, { authorization: basic("techcorp-mobile", "anything") }),
      authenticateClient(auth, {}),
    ];
    for (const refusal of refusals) {
      await expect(refusal).rejects.toMatchObject({ extensions: { error: "invalid_client" } });
    }
  });

  it("identifies a public client by client_id, or the fallback", async () => {
    expect((await authenticateClient(auth, { clientId: "techcorp-mobile" })).id).toBe("techcorp-mobile");
    expect((await authenticateClient(auth, {}, "techcorp-first-party")).id).toBe("techcorp-first-party");
  });
});
