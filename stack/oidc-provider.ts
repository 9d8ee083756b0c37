import { randomBytes } from "node:crypto";
import http from "node:http";
import { exportJWK, generateKeyPair } from "jose";
import Provider from "oidc-provider";

export interface OidcProviderOptions {
  port: number;
  client: { id: string; secret: string; redirectUris: string[] };
}

export interface OidcProvider {
  readonly issuer: string;
  close(): Promise<void>;
}

/** Whether the test provider says it verified an address: "unverified…@" accounts are not. */
const verified = (email: string) => !email.startsWith("unverified");

function page(body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Local OpenID provider</title></head><body>${body}</body></html>`;
}

/**
 * A real OpenID Provider (the certified `oidc-provider` package) on loopback, so third-party login
 * runs the whole authorization-code + PKCE flow locally. Its accounts are whatever email the
 * login step is given — `login_hint`, or the form a developer fills in — and consent is granted
 * at once: only the interaction pages are ours, the protocol is the package's.
 */
export async function startOidcProvider(options: OidcProviderOptions): Promise<OidcProvider> {
  const issuer = `http://127.0.0.1:${options.port}`;
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: options.client.id,
        client_secret: options.client.secret,
        redirect_uris: options.client.redirectUris,
        response_types: ["code"],
        grant_types: ["authorization_code"],
        token_endpoint_auth_method: "client_secret_basic",
      },
    ],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: "local-oidc", alg: "RS256", use: "sig" }] },
    cookies: { keys: [randomBytes(32).toString("hex")] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
    findAccount: async (_ctx, id) => ({
      accountId: id,
      claims: async () => ({ sub: id, email: id, email_verified: verified(id), name: id.split("@")[0] }),
    }),
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  });
  // A registered callback on a loopback IP matches at any port (as RFC 8252 §7.3 has it for native
  // apps): the clients' tests serve the API on a port of their own (test/setup/clients-api.ts).
  const { redirectUriAllowed } = provider.Client.prototype;
  provider.Client.prototype.redirectUriAllowed = function (this: InstanceType<typeof provider.Client>, value: string) {
    if (redirectUriAllowed.call(this, value)) return true;
    const url = URL.parse(value);
    if (url?.protocol !== "http:" || url.hostname !== "127.0.0.1") return false;
    return (
      this.redirectUris?.some((registered) => {
        const allowed = URL.parse(registered);
        return allowed?.hostname === "127.0.0.1" && allowed.pathname === url.pathname && url.search === "";
      }) ?? false
    );
  };

  async function interact(req: http.IncomingMessage, res: http.ServerResponse, submitted?: string): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === "login") {
      const email = submitted ?? (details.params.login_hint as string | undefined);
      if (!email) {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        res.end(
          page(`<form method="post" action="/interaction/${details.uid}/login">
            <p>Sign in to the local OpenID provider as any address (one starting with "unverified" is not verified).</p>
            <input name="email" type="email" required autofocus> <button>Sign in</button></form>`),
        );
        return;
      }
      await provider.interactionFinished(req, res, { login: { accountId: email } }, { mergeWithLastSubmission: false });
      return;
    }
    // Consent: grant what was asked.
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session?.accountId ?? "", clientId: String(details.params.client_id) });
    if (!grant) throw new Error("grant not found");
    const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  const callback = provider.callback();
  const server = http.createServer((req, res) => {
    const match = /^\/interaction\/([\w-]+)(\/login)?$/.exec(new URL(req.url ?? "/", issuer).pathname);
    if (!match) {
      callback(req, res);
      return;
    }
    const handle = async () => {
      let email: string | undefined;
      if (match[2] && req.method === "POST") {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        email = new URLSearchParams(Buffer.concat(chunks).toString()).get("email") ?? undefined;
      }
      await interact(req, res, email);
    };
    handle().catch((error: unknown) => {
      res.writeHead(400, { "content-type": "text/plain" }).end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port, "127.0.0.1", () => resolve()));
  return {
    issuer,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
