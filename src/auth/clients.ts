import type { AuthConfig, OAuthClientConfig } from "../pkg/config/config.ts";
import { constantTimeEqual } from "../pkg/crypto/constant-time.ts";
import { sha256 } from "../pkg/crypto/digest.ts";
import { oauthError } from "../pkg/errors/api-error.ts";

/** A client of the registry (`OAUTH_CLIENTS`). */
export type OAuthClient = OAuthClientConfig;
export type GrantType = OAuthClient["grantTypes"][number];

/** The registered client `clientId`, or undefined. */
export function findClient(auth: Pick<AuthConfig, "clients">, clientId: string): OAuthClient | undefined {
  return auth.clients.find((client) => client.id === clientId);
}

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "[::1]"]);

/**
 * Whether `requested` is one of the client's registered redirect URIs, compared as strings (RFC
 * 6749 §3.1.2.3; OAuth 2.1 §4.1.1: exact matching), except that a native client's http loopback
 * URI matches at any port (RFC 8252 §7.3: the app opens an ephemeral port), the rest still exact.
 */
export function redirectUriAllowed(client: OAuthClient, requested: string): boolean {
  if (client.redirectUris.includes(requested)) return true;
  if (client.applicationType !== "native") return false;
  let url: URL;
  try {
    url = new URL(requested);
  } catch {
    return false;
  }
  if (url.protocol !== "http:" || !LOOPBACK_HOSTS.has(url.hostname) || requested.includes("#")) return false;
  url.port = "";
  const withoutPort = url.href;
  return client.redirectUris.some((registered) => registered === withoutPort);
}

/** The credentials a request presents for its client (RFC 6749 §2.3). */
export interface ClientCredentials {
  /** The `client_id` body parameter, when sent. */
  clientId?: string | undefined;
  /** The `Authorization` header, when sent (only `Basic` is client authentication here). */
  authorization?: string | undefined;
}

/**
 * RFC 6749 §5.2 `invalid_client` (401); with a Basic challenge when the client tried the
 * Authorization header (which §5.2 then requires), without one otherwise.
 */
const invalidClient = (description: string, basic = false) =>
  oauthError("unauthorized", "invalid_client", description, {
    ...(basic && { headers: { "WWW-Authenticate": 'Basic realm="techcorp-oauth"' } }),
  });

/** `Basic` credentials: id and secret, each form-url-decoded (RFC 6749 §2.3.1); undefined when malformed. */
function basicCredentials(header: string): { id: string; secret: string } | undefined {
  const match = /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header);
  if (!match?.[1]) return undefined;
  try {
    const decoded = atob(match[1]);
    const colon = decoded.indexOf(":");
    if (colon < 0) return undefined;
    const decode = (part: string) => decodeURIComponent(part.replaceAll("+", " "));
    return { id: decode(decoded.slice(0, colon)), secret: decode(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

/**
 * Identifies and authenticates the client of a token, revocation or introspection request:
 * a confidential client by `client_secret_basic` (RFC 6749 §2.3.1; its secret compared in constant
 * time), a public one by its `client_id` (§2.3: it has no credentials). One method per request
 * (§2.3): a Basic header with a different `client_id` parameter is refused.
 *
 * @param fallbackId the client assumed when a public request names none (our first-party apps,
 *   for the password and refresh grants as before the registry); none: the client must say
 * @throws `invalid_client` (401 with a Basic challenge) for an unknown client, a wrong or missing
 *   secret, or a malformed Authorization header
 */
export async function authenticateClient(
  auth: Pick<AuthConfig, "clients">,
  credentials: ClientCredentials,
  fallbackId?: string,
): Promise<OAuthClient> {
  const header = credentials.authorization;
  if (header !== undefined && /^basic(\s|$)/i.test(header)) {
    const basic = basicCredentials(header);
    if (!basic) throw invalidClient("The Authorization header is not valid Basic client authentication.", true);
    if (credentials.clientId !== undefined && credentials.clientId !== basic.id) {
      throw invalidClient("client_id differs from the authenticated client.", true);
    }
    const client = findClient(auth, basic.id);
    // The digests have one length, so the comparison's time tells nothing about the secret.
    const expected = await sha256(client?.secret ?? "");
    const presented = await sha256(basic.secret);
    if (!client?.secret || !constantTimeEqual(expected, presented)) {
      throw invalidClient("Client authentication failed.", true);
    }
    return client;
  }
  const id = credentials.clientId ?? fallbackId;
  if (id === undefined) throw invalidClient("The request names no client (client_id).");
  const client = findClient(auth, id);
  if (!client) throw invalidClient("Unknown client_id.");
  if (client.type === "confidential") throw invalidClient("This client must authenticate (client_secret_basic).");
  return client;
}

/**
 * @throws `unauthorized_client` (400, RFC 6749 §5.2) when the client is not registered for `grant`
 */
export function requireGrant(client: OAuthClient, grant: GrantType): void {
  if (!client.grantTypes.includes(grant)) {
    throw oauthError("bad_request", "unauthorized_client", `The client ${client.id} may not use the ${grant} grant.`);
  }
}
