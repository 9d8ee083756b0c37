import { type ApiClient, createApiClient } from "./api-client.ts";
import {
  type DeviceSignIn,
  deviceGrant,
  FIRST_PARTY_CLIENT_ID,
  mfaGrant,
  type PasswordSignIn,
  passwordGrant,
  refreshWith,
  type SecondFactor,
  type SignInResult,
} from "./auth.ts";
import {
  type AuthorizationRequestOptions,
  authorizationCodeGrant,
  authorizationRequest,
  type PendingAuthorization,
} from "./authorization-code.ts";
import {
  type Document,
  type Download,
  type DownloadQuery,
  downloadDocument,
  type UploadOptions,
  uploadDocument,
} from "./documents.ts";
import {
  type ItemOf,
  type PageOf,
  type PaginateArgs,
  type PaginatedPath,
  pages as pagesOf,
  paginate as paginateOf,
} from "./paginate.ts";
import { TokenSession, type TokenSet } from "./tokens.ts";
import { type Authorization, authorizedFetch, type Fetch } from "./transport.ts";

/**
 * How the client authenticates:
 * - `{ apiKey: "tcp_…" }`: a personal or project API key, sent as `Authorization: Bearer tcp_…`;
 * - a `TokenSet` (`{ accessToken, refreshToken }`): a signed-in session, refreshed as needed;
 * - absent: anonymous until `signInWithPassword` (or `setCredentials`).
 */
export type Credentials = { apiKey: string } | TokenSet;

export interface ClientOptions {
  /** The API's origin (and path prefix, if any), e.g. `https://api.techcorp.example`; no trailing slash needed. */
  baseUrl: string;
  credentials?: Credentials | undefined;
  /**
   * The OAuth client the session's tokens were issued to: refreshes name it (a refresh token works
   * only for its own client). Default `techcorp-first-party`, the web app's (password sign-in).
   */
  clientId?: string | undefined;
  /**
   * Called with every new token set: after a sign-in and after each refresh, once the tokens are in
   * use. Persist `refreshToken` here: it rotates on every refresh, and the old one stops working.
   */
  onTokens?: ((tokens: TokenSet) => void | Promise<void>) | undefined;
  /** Refresh the access token this many seconds before it expires (default 30). */
  refreshBeforeExpirySeconds?: number | undefined;
  /** The fetch to send with (default `globalThis.fetch`); it receives a `Request`. */
  fetch?: Fetch | undefined;
}

/** The client `createClient` returns; every method throws `ProblemError` for a non-2xx answer. */
export interface TechCorpClient {
  /** The raw typed client: every operation of the OpenAPI document (see `ApiClient`). */
  readonly api: ApiClient;
  readonly baseUrl: string;
  /** The session's current tokens; undefined for an API key or an anonymous client. */
  readonly tokens: TokenSet | undefined;
  /** Replaces the credentials for the calls that follow (undefined: anonymous). */
  setCredentials(credentials: Credentials | undefined): void;
  /**
   * Signs in with a password (the first-party client's password grant). On `signed-in` the client
   * uses the new session from the next call on, and `onTokens` has been called. On `mfa-required`,
   * call `completeMfaSignIn`.
   */
  signInWithPassword(input: PasswordSignIn): Promise<SignInResult>;
  /** Finishes an MFA sign-in with a TOTP or recovery code; the client then uses the session. */
  completeMfaSignIn(factor: SecondFactor): Promise<TokenSet>;
  /**
   * Signs in with the device flow (RFC 8628, e.g. the CLI's client `techcorp-cli`): `onPrompt` gets
   * the code to show; resolves once the person approves it in a browser, the client then using the
   * session. Create the client with the same `clientId`, so that its refreshes name it.
   */
  signInWithDevice(request: DeviceSignIn): Promise<TokenSet>;
  /**
   * Starts a sign-in with the authorization code flow and PKCE (RFC 6749 §4.1, RFC 7636): send the
   * browser to the returned `url` (the server's sign-in page: password, second factor, third-party
   * providers) and keep the rest for `signInWithAuthorizationCode`. Sends nothing.
   */
  authorizationRequest(options: AuthorizationRequestOptions): Promise<PendingAuthorization>;
  /**
   * Finishes that sign-in at the redirect URI (`callbackUrl`: the address the browser came back
   * to); the client then uses the session. See `authorizationCodeGrant` for what it throws.
   */
  signInWithAuthorizationCode(pending: Omit<PendingAuthorization, "url">, callbackUrl: string | URL): Promise<TokenSet>;
  /**
   * An access token to send now, refreshed first when it is about to expire; undefined for an API
   * key or an anonymous client. For requests the SDK does not make itself (an XMLHttpRequest with
   * upload progress in a browser).
   * @throws ProblemError when the session has ended (its refresh was refused)
   */
  accessToken(): Promise<string | undefined>;
  /** Every item of a keyset-paginated list (`/documents`, `/users`, `/notifications` …), across pages. */
  paginate<P extends PaginatedPath>(path: P, ...options: PaginateArgs<P>): AsyncGenerator<ItemOf<P>, void, undefined>;
  /** The same list page by page, each page whole (`unreadCount`, `facets` … beside `data`). */
  pages<P extends PaginatedPath>(path: P, ...options: PaginateArgs<P>): AsyncGenerator<PageOf<P>, void, undefined>;
  /** Streams a file up as a new document, reporting progress; see `UploadOptions`. */
  uploadDocument(options: UploadOptions): Promise<Document>;
  /** A document's content as an unread stream, with its size. */
  downloadDocument(id: string, query?: DownloadQuery, signal?: AbortSignal): Promise<Download>;
}

const isApiKey = (credentials: Credentials): credentials is { apiKey: string } => "apiKey" in credentials;

/**
 * A client of the TechCorp Platform API at `baseUrl`.
 *
 * ```ts
 * const client = createClient({ baseUrl, onTokens: (tokens) => store.save(tokens) });
 * await client.signInWithPassword({ username: "ada", password });
 * for await (const doc of client.paginate("/documents")) console.log(doc.title);
 * ```
 *
 * @throws TypeError when an API key does not start with `tcp_`
 */
export function createClient(options: ClientOptions): TechCorpClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const send: Fetch = options.fetch ?? ((request) => globalThis.fetch(request));
  // Sign-in and refresh calls carry their credentials in the body: never an Authorization header,
  // never a refresh loop.
  const bare = createApiClient(baseUrl, (request) => send(request));
  const refresh = refreshWith(bare, options.clientId ?? FIRST_PARTY_CLIENT_ID);
  let authorization: Authorization = { kind: "anonymous" };

  const useSession = (tokens: TokenSet) => {
    authorization = {
      kind: "session",
      session: new TokenSession(tokens, {
        refresh,
        onTokens: options.onTokens,
        refreshBeforeExpirySeconds: options.refreshBeforeExpirySeconds,
      }),
    };
  };
  const setCredentials = (credentials: Credentials | undefined) => {
    if (credentials === undefined) authorization = { kind: "anonymous" };
    else if (isApiKey(credentials)) {
      if (!credentials.apiKey.startsWith("tcp_")) throw new TypeError("an API key starts with tcp_");
      authorization = { kind: "api-key", key: credentials.apiKey };
    } else useSession(credentials);
  };
  setCredentials(options.credentials);

  const fetch = authorizedFetch(send, () => authorization);
  const api = createApiClient(baseUrl, fetch);
  const signedIn = async (tokens: TokenSet) => {
    useSession(tokens);
    await options.onTokens?.(tokens);
    return tokens;
  };

  return {
    api,
    baseUrl,
    get tokens() {
      return authorization.kind === "session" ? authorization.session.tokens : undefined;
    },
    setCredentials,
    async signInWithPassword(input) {
      const result = await passwordGrant(bare, input);
      if (result.kind === "signed-in") await signedIn(result.tokens);
      return result;
    },
    async completeMfaSignIn(factor) {
      return signedIn(await mfaGrant(bare, factor));
    },
    async signInWithDevice(request) {
      return signedIn(await deviceGrant(bare, request));
    },
    authorizationRequest: (request) => authorizationRequest(baseUrl, request),
    async signInWithAuthorizationCode(pending, callbackUrl) {
      return signedIn(await authorizationCodeGrant(bare, pending, callbackUrl));
    },
    accessToken: () =>
      authorization.kind === "session" ? authorization.session.accessToken() : Promise.resolve(undefined),
    paginate: (path, ...rest) => paginateOf(api, path, ...rest),
    pages: (path, ...rest) => pagesOf(api, path, ...rest),
    uploadDocument: (upload) => uploadDocument({ baseUrl, fetch }, upload),
    downloadDocument: (id, query, signal) => downloadDocument(api, id, query, signal),
  };
}
