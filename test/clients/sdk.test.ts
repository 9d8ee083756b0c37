import { createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import {
  AuthorizationError,
  type Credentials,
  createClient,
  type Document,
  ProblemError,
  type TechCorpClient,
  type TokenSet,
  type UploadProgress,
} from "@techcorp/sdk";
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from "jose";
import { describe, expect, inject, it } from "vitest";
import { eventually } from "../eventually.ts";
import { mailedLink, totp } from "./accounts.ts";

// The SDK (packages/sdk), imported by its package name as the web app and the CLI do, against both
// workers served by the clients project's `wrangler dev` on the test stack, as `npm run dev` serves them (the processor
// beside the API, so an upload is scanned and becomes downloadable). Nothing is mocked: the fetch
// each client is given only records what went over the wire.

const PASSWORD = "correct horse battery staple";

/** The API and the processor that the clients project serves (test/setup/clients-api.ts). */
const api = { url: inject("apiUrl") };
const env = inject("stack");
/** A fetch that sends as the global one does and records `METHOD /path status` of every exchange. */
function recorder() {
  const exchanges: string[] = [];
  const authorizations: (string | null)[] = [];
  const fetch = async (request: Request) => {
    const { pathname } = new URL(request.url);
    authorizations.push(request.headers.get("authorization"));
    const response = await globalThis.fetch(request);
    exchanges.push(`${request.method} ${pathname} ${response.status}`);
    return response;
  };
  return { fetch, exchanges, authorizations, count: (line: string) => exchanges.filter((e) => e === line).length };
}

function clientWith(credentials?: Credentials, onTokens?: (tokens: TokenSet) => void) {
  const wire = recorder();
  const client = createClient({ baseUrl: api.url, credentials, onTokens, fetch: wire.fetch });
  return { client, wire };
}

/** A new account, registered through the SDK; its address not verified. */
async function register(): Promise<{ username: string; email: string }> {
  const username = `sdk${randomBytes(6).toString("hex")}`;
  const email = `${username}@example.com`;
  const { client } = clientWith();
  const { data } = await client.api.POST("/users", { body: { email, username, password: PASSWORD } });
  expect(data.username).toBe(username);
  return { username, email };
}

/** A signed-in client of a new account. */
async function signedIn(): Promise<{ client: TechCorpClient; tokens: TokenSet; username: string; email: string }> {
  const account = await register();
  const { client } = clientWith();
  const result = await client.signInWithPassword({ username: account.username, password: PASSWORD });
  if (result.kind !== "signed-in") throw new Error(`sign-in answered ${result.kind}`);
  return { client, tokens: result.tokens, ...account };
}

/** Follows the verification link mailed on registration (through the stack's SMTP server and inbox). */
async function verifyAddress(client: TechCorpClient, email: string): Promise<void> {
  const token = new URL(await mailedLink(email, /confirm/i)).hash.replace(/^#token=/, "");
  await client.api.POST("/auth/email-verification", { body: { token } });
}

/** The stack's current signing key (the first of JWT_SIGNING_KEYS signs; stack/secrets.ts). */
async function signingKey(): Promise<JWK> {
  const [key] = JSON.parse(env.JWT_SIGNING_KEYS ?? "[]") as JWK[];
  if (!key) throw new Error("the test stack gives no JWT_SIGNING_KEYS");
  return key;
}

/** `token` re-signed with its claims changed by `claims`, by `key` (default: the server's own key). */
async function resigned(token: string, claims: Record<string, unknown>, key?: JWK): Promise<string> {
  const signer = key ?? (await signingKey());
  return new SignJWT({ ...decodeJwt(token), ...claims })
    .setProtectedHeader(decodeProtectedHeader(token) as { alg: string })
    .sign(await importJWK(signer, "ES256"));
}

/** A key the server does not hold, named with the server's `kid`: a forged signature. */
async function foreignKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  return { ...(await exportJWK(privateKey)), kid: (await signingKey()).kid ?? "" };
}

describe("@techcorp/sdk against the API", () => {
  it("is what external users see: the API's /openapi.json equals the SDK's copy", async () => {
    const served = `${JSON.stringify(await (await fetch(`${api.url}/openapi.json`)).json(), null, 2)}\n`;
    const committed = await readFile(new URL("../../packages/sdk/openapi.json", import.meta.url), "utf8");
    expect(served === committed, "packages/sdk/openapi.json differs: run `npm run sdk:generate`").toBe(true);
  });

  describe("password sign-in", () => {
    it("signs in, hands the tokens to onTokens and calls the API as the user", async () => {
      const { username } = await register();
      const persisted: TokenSet[] = [];
      const { client, wire } = clientWith(undefined, (tokens) => void persisted.push(tokens));
      const result = await client.signInWithPassword({ username, password: PASSWORD });

      expect(result.kind).toBe("signed-in");
      expect(persisted).toHaveLength(1);
      expect(client.tokens).toEqual(persisted[0]);
      expect(decodeJwt(persisted[0]?.accessToken ?? "").client_id).toBe("techcorp-first-party");
      const { data } = await client.api.GET("/users/me");
      expect(data.username).toBe(username);
      expect(wire.exchanges).toEqual(["POST /auth/token 200", "GET /users/me 200"]);
      expect(wire.authorizations).toEqual([null, `Bearer ${persisted[0]?.accessToken}`]);
    });

    it("refuses a wrong password with a ProblemError invalid_grant carrying the request id", async () => {
      const { username } = await register();
      const { client } = clientWith();
      const error = await client.signInWithPassword({ username, password: "not the password at all" }).catch((e) => e);

      expect(error).toBeInstanceOf(ProblemError);
      expect(error).toMatchObject({ status: 400, code: "invalid_grant", problem: { error: "invalid_grant" } });
      expect(error.requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(error.requestId).toBe(error.response.headers.get("x-request-id"));
      expect(client.tokens).toBeUndefined();
    });

    it("answers mfa-required for an account with MFA on, and completes with a TOTP code", async () => {
      const { client: enrolled, username } = await signedIn();
      const { data: setup } = await enrolled.api.POST("/auth/mfa/setup");
      const step = Math.floor(Date.now() / 30_000);
      await enrolled.api.POST("/auth/mfa/confirm", { body: { code: totp(setup.secret, step) } });

      const { client } = clientWith();
      const first = await client.signInWithPassword({ username, password: PASSWORD });
      if (first.kind !== "mfa-required") throw new Error(`expected mfa-required, got ${first.kind}`);
      expect(client.tokens).toBeUndefined();
      // The next step's code: within the allowed drift, and after the step confirming spent.
      const tokens = await client.completeMfaSignIn({ mfaToken: first.mfaToken, otp: totp(setup.secret, step + 1) });
      expect(decodeJwt(tokens.accessToken).sub).toBeDefined();
      expect((await client.api.GET("/users/me")).data.username).toBe(username);
    });
  });

  describe("refresh", () => {
    it("refreshes once for concurrent calls whose token the server refuses, retries each, and reports the rotation", async () => {
      const { tokens } = await signedIn();
      const forged = await resigned(tokens.accessToken, {}, await foreignKey());
      const persisted: TokenSet[] = [];
      // The client believes the token fresh: only the server's 401 can tell it otherwise.
      const credentials = { ...tokens, accessToken: forged, expiresAt: Date.now() + 600_000 };
      const { client, wire } = clientWith(credentials, (t) => void persisted.push(t));

      const answers = await Promise.all(Array.from({ length: 5 }, () => client.api.GET("/users/me")));

      expect(answers.map(({ response }) => response.status)).toEqual([200, 200, 200, 200, 200]);
      expect(wire.count("POST /auth/refresh 200")).toBe(1);
      expect(wire.count("GET /users/me 401")).toBe(5);
      expect(wire.count("GET /users/me 200")).toBe(5);
      expect(persisted).toHaveLength(1);
      expect(persisted[0]?.refreshToken).not.toBe(tokens.refreshToken);
      expect(client.tokens?.accessToken).toBe(persisted[0]?.accessToken);
      // The persisted refresh token is the live one: a client started from it refreshes with it.
      const { client: restarted } = clientWith({ ...(persisted[0] as TokenSet), expiresAt: 0 });
      expect((await restarted.api.GET("/users/me")).response.status).toBe(200);
    });

    it("refreshes an expired access token before sending, so the server never sees it", async () => {
      const { tokens } = await signedIn();
      const now = Math.floor(Date.now() / 1000);
      const expired = await resigned(tokens.accessToken, { iat: now - 1000, nbf: now - 1000, exp: now - 60 });
      // The server itself refuses it: the refresh is needed.
      const direct = await fetch(`${api.url}/users/me`, { headers: { authorization: `Bearer ${expired}` } });
      expect(direct.status).toBe(401);
      expect(direct.headers.get("www-authenticate")).toMatch(/error="invalid_token".*expired/);

      // No expiresAt: the client reads the JWT's exp.
      const { client, wire } = clientWith({ accessToken: expired, refreshToken: tokens.refreshToken });
      await Promise.all([client.api.GET("/users/me"), client.api.GET("/documents")]);

      expect(wire.exchanges[0]).toBe("POST /auth/refresh 200");
      expect(wire.count("POST /auth/refresh 200")).toBe(1);
      expect(wire.exchanges.slice(1).sort()).toEqual(["GET /documents 200", "GET /users/me 200"]);
    });

    it("ends the session when the refresh is refused: invalid_grant, and no second refresh", async () => {
      const { tokens } = await signedIn();
      const forged = await resigned(tokens.accessToken, {}, await foreignKey());
      const { client, wire } = clientWith({ accessToken: forged, refreshToken: "not-a-refresh-token" });

      const first = await client.api.GET("/users/me").catch((e) => e);
      const second = await client.api.GET("/users/me").catch((e) => e);

      expect(first).toBeInstanceOf(ProblemError);
      expect(first).toMatchObject({ status: 400, code: "invalid_grant" });
      expect(second).toBe(first);
      expect(wire.exchanges).toEqual(["GET /users/me 401", "POST /auth/refresh 400"]);
    });
  });

  it("signs in with the authorization code flow and PKCE through the API's sign-in page", async () => {
    const account = await register();
    const { client, wire } = clientWith();
    const redirectUri = `${api.url}/sign-in/callback`;
    const pending = await client.authorizationRequest({ redirectUri, scope: "openid read" });
    const request = new URL(pending.url).searchParams;
    expect(Object.fromEntries(request)).toMatchObject({
      client_id: "techcorp-first-party",
      redirect_uri: redirectUri,
      state: pending.state,
      code_challenge_method: "S256",
      code_challenge: createHash("sha256").update(pending.codeVerifier).digest("base64url"),
    });
    // The person's browser: the page, then its form posted with the CSRF cookie it set.
    const page = await fetch(pending.url);
    const cookie = page.headers
      .getSetCookie()
      .map((line) => line.split(";")[0])
      .join("; ");
    const hidden = Object.fromEntries(
      [...(await page.text()).matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)" \/>/g)].map((m) => [
        m[1] ?? "",
        (m[2] ?? "").replaceAll("&amp;", "&"),
      ]),
    );
    const answer = await fetch(`${api.url}/auth/authorize`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", cookie, origin: api.url },
      body: new URLSearchParams({ ...hidden, username: account.username, password: PASSWORD, decision: "approve" }),
    });
    const callback = answer.headers.get("location") ?? "";
    expect(callback.startsWith(`${redirectUri}?code=`)).toBe(true);
    const { url: _, ...kept } = pending;
    // A callback of another request (its state) is refused before any code is spent.
    const foreign = new URL(callback);
    foreign.searchParams.set("state", "another");
    await expect(client.signInWithAuthorizationCode(kept, foreign)).rejects.toMatchObject({
      name: "AuthorizationError",
      error: "invalid_state",
    });
    await client.signInWithAuthorizationCode(kept, callback);
    const { data } = await client.api.GET("/users/me");
    expect(data.username).toBe(account.username);
    expect(wire.exchanges).toEqual(["POST /auth/token 200", "GET /users/me 200"]);
    // The same code again: spent.
    await expect(client.signInWithAuthorizationCode(kept, callback)).rejects.toMatchObject({ code: "invalid_grant" });
    // Cancel on the page comes back as the error it is.
    const denied = new URL(redirectUri);
    denied.search = new URLSearchParams({ error: "access_denied", state: pending.state }).toString();
    const refusal = await client.signInWithAuthorizationCode(kept, denied).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(AuthorizationError);
    expect(refusal).toMatchObject({ error: "access_denied" });
  });

  it("throws every non-2xx answer as a ProblemError: status, type, code, detail, request id, the raw problem", async () => {
    const { client } = await signedIn();
    const id = crypto.randomUUID();
    const missing = await client.api.GET("/documents/{id}", { params: { path: { id } } }).catch((e) => e);

    expect(missing).toBeInstanceOf(ProblemError);
    expect(missing).toMatchObject({
      name: "ProblemError",
      status: 404,
      type: "/problems/not_found",
      code: "not_found",
    });
    expect(missing.requestId).toBe(missing.response.headers.get("x-request-id"));
    expect(missing.problem).toMatchObject({ status: 404, instance: `/documents/${id}`, requestId: missing.requestId });

    const invalid = await client.api.GET("/documents/{id}", { params: { path: { id: "not-a-uuid" } } }).catch((e) => e);
    expect(invalid).toMatchObject({ status: 400, code: "validation_failed" });
    expect(invalid.problem.errors).toEqual(expect.arrayContaining([expect.objectContaining({ pointer: "/id" })]));
  });

  it("paginates across several pages with an async iterator", async () => {
    const { client } = await signedIn();
    const uploaded: Document[] = [];
    for (let i = 0; i < 5; i++) {
      uploaded.push(
        await client.uploadDocument({ body: new TextEncoder().encode(`# Note ${i}\n`), contentType: "text/markdown" }),
      );
    }
    const { client: reader, wire } = clientWith(client.tokens);

    const seen: string[] = [];
    for await (const doc of reader.paginate("/documents", { params: { query: { limit: 2 } } })) seen.push(doc.id);

    // Newest first, each once, over three pages (2 + 2 + 1).
    expect(seen).toEqual(uploaded.map((doc) => doc.id).reverse());
    expect(wire.count("GET /documents 200")).toBe(3);
    const pages: (string | null)[] = [];
    for await (const page of reader.pages("/documents", { params: { query: { limit: 2 } } }))
      pages.push(page.nextCursor);
    expect(pages).toHaveLength(3);
    expect(pages.at(-1)).toBeNull();
  });

  describe("streaming upload and download", () => {
    it("uploads a stream with progress, then downloads it back byte-identical", async () => {
      const { client } = await signedIn();
      // Past one 5 MiB part, so the server stores it as a multipart upload.
      const file = printable(6 * 1024 * 1024 + 12_345);
      const chunk = 64 * 1024;
      let offset = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (offset >= file.length) return controller.close();
          controller.enqueue(file.subarray(offset, offset + chunk));
          offset += chunk;
        },
      });
      const progress: UploadProgress[] = [];

      const doc = await client.uploadDocument({
        body,
        contentType: "text/plain",
        filename: "notes – ünïcode.txt",
        tags: ["sdk", "stream"],
        size: file.length,
        onProgress: (p) => void progress.push(p),
      });

      const sha256 = createHash("sha256").update(file).digest("hex");
      expect(doc).toMatchObject({
        title: "notes – ünïcode.txt",
        tags: ["sdk", "stream"],
        sizeBytes: file.length,
        sha256,
      });
      expect(progress.length).toBeGreaterThan(90);
      expect(progress.every((p, i) => i === 0 || p.bytesSent > (progress[i - 1]?.bytesSent ?? 0))).toBe(true);
      expect(progress.at(-1)).toEqual({ bytesSent: file.length, totalBytes: file.length });

      await eventually(async () => {
        const { data } = await client.api.GET("/documents/{id}", { params: { path: { id: doc.id } } });
        return data.status === "ready" ? data : undefined;
      }, 90_000);
      const download = await client.downloadDocument(doc.id);
      expect(download.size).toBe(file.length);
      expect(download.filename).toBe("notes – ünïcode.txt");
      const hash = createHash("sha256");
      let received = 0;
      for await (const part of download.body) {
        hash.update(part);
        received += part.byteLength;
      }
      expect(received).toBe(file.length);
      expect(hash.digest("hex")).toBe(sha256);
    }, 120_000);

    it("aborts an upload with its signal: the call rejects, the source is cancelled, nothing is stored", async () => {
      const { client } = await signedIn();
      const controller = new AbortController();
      const chunk = printable(64 * 1024);
      let pulled = 0;
      let cancelled: unknown;
      // Long, but not endless: were the source not cancelled, fetch would drain it all after the abort.
      const source = new ReadableStream<Uint8Array>({
        pull(stream) {
          if (pulled >= 64 * 1024 * 1024) return stream.close();
          pulled += chunk.byteLength;
          stream.enqueue(chunk);
        },
        cancel(reason) {
          cancelled = reason;
        },
      });
      const aborted = client
        .uploadDocument({
          body: source,
          contentType: "text/plain",
          signal: controller.signal,
          onProgress: ({ bytesSent }) => bytesSent > 1024 * 1024 && controller.abort(),
        })
        .catch((e) => e);

      expect(await aborted).toMatchObject({ name: "AbortError" });
      expect(cancelled).toMatchObject({ name: "AbortError" });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(pulled).toBeLessThan(2 * 1024 * 1024);
      const { data } = await client.api.GET("/documents");
      expect(data.data).toEqual([]);
    });
  });

  it("calls the API with an API key, sent as Bearer, within the key's scopes", async () => {
    const { client, email } = await signedIn();
    await verifyAddress(client, email);
    const { data: created } = await client.api.POST("/api-keys", { body: { name: "sdk test", scopes: ["read"] } });
    expect(created.key).toMatch(/^tcp_/);

    const { client: keyed, wire } = clientWith({ apiKey: created.key });
    const { data: me } = await keyed.api.GET("/users/me");
    expect(me.email).toBe(email);
    expect(wire.authorizations).toEqual([`Bearer ${created.key}`]);
    // A read-only key may not write.
    const refused = await keyed
      .uploadDocument({ body: new TextEncoder().encode("# no\n"), contentType: "text/markdown" })
      .catch((e) => e);
    expect(refused).toMatchObject({ status: 403, code: "forbidden" });
    expect(() => createClient({ baseUrl: api.url, credentials: { apiKey: "not-a-key" } })).toThrow(TypeError);
  });
});

/** `length` bytes of printable ASCII text (a valid text/plain file), random. */
function printable(length: number): Uint8Array {
  const bytes = randomBytes(length);
  for (let i = 0; i < length; i++) bytes[i] = (i + 1) % 80 === 0 ? 0x0a : 0x20 + ((bytes[i] ?? 0) % 95);
  return bytes;
}
