import { signal } from "@preact/signals";
import {
  AuthorizationError,
  type components,
  createClient,
  type PendingAuthorization,
  ProblemError,
  type SignInResult,
  type TokenSet,
} from "@techcorp/sdk";

export type User = components["schemas"]["User"];

/**
 * Where the session lives in the browser:
 * - the access token in memory only (this module's client), never in storage a script could read
 *   after the tab closes;
 * - the refresh token in localStorage, so a reload or a new tab stays signed in. It rotates on every
 *   refresh (README "Tokens"); the newest is written back each time;
 * - other tabs hear of new tokens and of a sign-out over a BroadcastChannel, so they do not refresh
 *   with a token another tab has already rotated away (a reuse after the server's 30 s grace would
 *   end the session for every tab). Tabs that start at once restore one at a time (Web Locks).
 */
const REFRESH_TOKEN_KEY = "techcorp.refreshToken";
const LOCK = "techcorp.session";

type SessionMessage = { type: "tokens"; tokens: TokenSet } | { type: "signed-out" };
const channel = new BroadcastChannel("techcorp.session");

/** The signed-in user; null when signed out; undefined while the session is being restored at start. */
export const currentUser = signal<User | null | undefined>(undefined);

/**
 * Why the stored session could not be restored at start, when the server did not refuse it (429,
 * 503, the network): the refresh token is kept, so a reload later may still succeed.
 */
export const restoreError = signal<unknown>(undefined);

/** The API client every page uses: same origin as the app. */
export const client = createClient({
  baseUrl: location.origin,
  onTokens: (tokens) => {
    localStorage.setItem(REFRESH_TOKEN_KEY, tokens.refreshToken);
    channel.postMessage({ type: "tokens", tokens } satisfies SessionMessage);
  },
});

channel.addEventListener("message", (event: MessageEvent<SessionMessage>) => {
  if (event.data.type === "tokens") client.setCredentials(event.data.tokens);
  else forget();
});

function forget() {
  localStorage.removeItem(REFRESH_TOKEN_KEY);
  client.setCredentials(undefined);
  currentUser.value = null;
}

/**
 * Restores the session from the stored refresh token at start (one refresh, then `GET /users/me`).
 * A refused token (the session ended elsewhere) signs out quietly; any other failure is thrown
 * with the session kept, so a reload can try again.
 */
export async function restoreSession(): Promise<void> {
  await navigator.locks.request(LOCK, async () => {
    const refreshToken = localStorage.getItem(REFRESH_TOKEN_KEY);
    if (!refreshToken) {
      currentUser.value = null;
      return;
    }
    // No access token yet: the client refreshes before the first call.
    client.setCredentials({ accessToken: "", refreshToken, expiresAt: 0 });
    try {
      await loadUser();
    } catch (error) {
      if (error instanceof ProblemError && (error.status === 400 || error.status === 401)) forget();
      else {
        restoreError.value = error;
        currentUser.value = null;
        throw error;
      }
    }
  });
}

/** Reads the signed-in user again (after a sign-in, or a change of profile). */
export async function loadUser(): Promise<User> {
  const { data } = await client.api.GET("/users/me");
  restoreError.value = undefined;
  currentUser.value = data;
  return data;
}

/** Password sign-in; on `mfa-required`, call `completeSignIn` with the code. */
export async function signIn(username: string, password: string): Promise<SignInResult> {
  const result = await client.signInWithPassword({ username, password });
  if (result.kind === "signed-in") await loadUser();
  return result;
}

/** The second step of an MFA sign-in: a TOTP code or a recovery code. */
export async function completeSignIn(mfaToken: string, code: string): Promise<void> {
  const trimmed = code.replace(/\s+/g, "");
  await client.completeMfaSignIn(
    /^\d{6}$/.test(trimmed) ? { mfaToken, otp: trimmed } : { mfaToken, recoveryCode: trimmed },
  );
  await loadUser();
}

/**
 * The sign-in started on the API's sign-in page (the authorization code flow with PKCE): its
 * verifier and state, and the page to go to afterwards. In sessionStorage: this tab only, gone
 * when it closes; read once by the callback.
 */
const PENDING_AUTHORIZATION_KEY = "techcorp.authorization";
/** The web app's redirect URI, registered for the first-party client (stack/oauth-clients.ts). */
const CALLBACK_PATH = "/sign-in/callback";

type StoredAuthorization = Omit<PendingAuthorization, "url"> & { next: string };

/**
 * Sends the browser to the API's sign-in page (`/auth/authorize`), which also offers the
 * third-party providers: the scopes asked are every one the server supports, so the session holds
 * all the user may (as a password sign-in's does).
 */
export async function startSignInPage(next: string): Promise<void> {
  const discovery = await fetch("/.well-known/openid-configuration").then((response) => response.json());
  const scopes: unknown = discovery?.scopes_supported;
  const pending = await client.authorizationRequest({
    redirectUri: `${location.origin}${CALLBACK_PATH}`,
    ...(Array.isArray(scopes) ? { scope: scopes.join(" ") } : {}),
  });
  const { url, ...kept } = pending;
  sessionStorage.setItem(PENDING_AUTHORIZATION_KEY, JSON.stringify({ ...kept, next } satisfies StoredAuthorization));
  location.assign(url);
}

/**
 * At the redirect URI: redeems the code for this tab's pending sign-in, then loads the user.
 * @returns the page to go to next
 * @throws AuthorizationError (Cancel pressed, or no sign-in pending in this tab), ProblemError
 */
export async function finishSignInPage(callbackUrl: string): Promise<string> {
  const stored = sessionStorage.getItem(PENDING_AUTHORIZATION_KEY);
  sessionStorage.removeItem(PENDING_AUTHORIZATION_KEY);
  const pending: StoredAuthorization | undefined = stored ? JSON.parse(stored) : undefined;
  if (!pending) throw new AuthorizationError("invalid_state", "No sign-in was started in this tab: start again.");
  await client.signInWithAuthorizationCode(pending, callbackUrl);
  await loadUser();
  return pending.next;
}

/** Ends the session on the server (when it can) and everywhere in this browser. */
export async function signOut(): Promise<void> {
  try {
    await client.api.POST("/auth/logout");
  } catch {
    // Signed out here all the same: the session ends at the latest when its tokens expire.
  }
  forget();
  channel.postMessage({ type: "signed-out" } satisfies SessionMessage);
}
