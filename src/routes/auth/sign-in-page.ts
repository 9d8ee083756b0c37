import { html, raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";

/** A page's form: where it posts, the hidden parameters it carries, what the user is asked. */
export interface SignInPage {
  /** The client's display name, as registered. */
  clientName: string;
  /** The form's target (a path of this API). */
  action: string;
  /** Carried through the form unchanged: the authorization request, the CSRF token, an `mfa_token`. */
  hidden: Record<string, string | undefined>;
  step: "password" | "second-factor" | "user-code";
  /** Shown above the form (escaped), e.g. "Invalid username or password." */
  error?: string | undefined;
  /** The user code to show for confirmation (device grant). */
  userCode?: string | undefined;
  /**
   * The browser sent a single sign-on cookie (device grant's `user-code` step): the credentials
   * may be left empty, to continue as the signed-in user.
   */
  signedIn?: boolean | undefined;
  /** Third-party logins offered under the form: the button's provider name and where it starts. */
  providers?: { name: string; href: string }[] | undefined;
}

/**
 * The Content-Security-Policy of the sign-in pages (CSP Level 3): nothing loads (no script, no
 * style, no image), nothing frames them, and forms post only here or, after the redirect that
 * answers them, to `redirectTarget` (`form-action` also governs redirects after a submission).
 */
export function signInPolicy(redirectTarget?: string): string {
  const formAction = ["'self'", ...(redirectTarget ? [redirectTarget] : [])].join(" ");
  return `default-src 'none'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`;
}

/** What `form-action` must allow for a redirect URI: its origin, or its scheme for a private-use one. */
export function redirectSource(redirectUri: string): string {
  const url = new URL(redirectUri);
  return url.origin !== "null" ? url.origin : url.protocol;
}

const hiddenFields = (hidden: SignInPage["hidden"]) =>
  Object.entries(hidden)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}" />`);

function fields(page: SignInPage): HtmlEscapedString | Promise<HtmlEscapedString> {
  if (page.step === "second-factor") {
    return html`<p>Enter the code from your authenticator app, or one of your recovery codes.</p>
      <p><label>Code <input name="otp" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" autofocus /></label></p>
      <p><label>Recovery code <input name="recovery_code" autocomplete="off" maxlength="64" /></label></p>`;
  }
  if (page.step === "user-code") {
    return html`<p>Enter the code shown on your device.</p>
      <p><label>Code <input name="user_code" value="${page.userCode ?? ""}" autocomplete="off" maxlength="16" required autofocus /></label></p>
      ${page.signedIn ? html`<p>You are signed in: leave the fields below empty to continue, or sign in as someone else.</p>` : ""}
      ${credentials(!page.signedIn, false)}`;
  }
  return credentials(true, true);
}

/** The username and password fields; `required` unless a single sign-on session may stand in. */
function credentials(required: boolean, autofocus: boolean) {
  // Fixed attribute names, never user data: raw is safe here.
  const attributes = (...names: (string | false)[]) => raw(names.filter(Boolean).join(" "));
  return html`<p><label>Email or username <input name="username" autocomplete="username" maxlength="255" ${attributes(required && "required", autofocus && "autofocus")} /></label></p>
    <p><label>Password <input type="password" name="password" autocomplete="current-password" maxlength="1024" ${attributes(required && "required")} /></label></p>`;
}

/** The pages' document: no script, no style, the referrer kept on this site, `content` in `<main>`. */
function layout(title: string, content: HtmlEscapedString | Promise<HtmlEscapedString>) {
  return html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <meta name="referrer" content="same-origin" />
    <title>${title} · TechCorp</title>
  </head>
  <body>
    <main>
      ${content}
    </main>
  </body>
</html>`;
}

/**
 * The server-rendered sign-in form of the authorization endpoint and of the device verification
 * page: no script, every value escaped by `hono/html` (OWASP XSS Prevention, rule 1 and 2:
 * element content and quoted attributes), served under `signInPolicy`.
 */
export function renderSignInPage(page: SignInPage) {
  const submit = page.step === "user-code" ? "Approve" : "Continue";
  const cancel = page.step === "user-code" ? "Deny" : "Cancel";
  return layout(
    "Sign in",
    html`<h1>Sign in</h1>
      <p>to continue to <strong>${page.clientName}</strong></p>
      ${page.error ? html`<p role="alert"><strong>${page.error}</strong></p>` : ""}
      <form method="post" action="${page.action}">
        ${hiddenFields(page.hidden)} ${fields(page)}
        <p>
          <button type="submit" name="decision" value="approve">${submit}</button>
          <button type="submit" name="decision" value="deny" formnovalidate>${cancel}</button>
        </p>
      </form>
      ${providerList(page.providers ?? [])}`,
  );
}

/** The third-party logins, as links (a navigation: `form-action` does not restrict it). */
function providerList(providers: NonNullable<SignInPage["providers"]>) {
  if (providers.length === 0) return "";
  return html`<p>Or sign in with another account:</p>
    <ul>
      ${providers.map((provider) => html`<li><a href="${provider.href}">Continue with ${provider.name}</a></li>`)}
    </ul>`;
}

/** A page that only says something (the device flow's outcome), same policy. */
export function renderMessagePage(title: string, message: string) {
  return layout(title, html`<h1>${title}</h1><p>${message}</p>`);
}

/** The device grant's consent step: who asks, for what, and the hidden fields its form carries. */
export interface ConsentPage {
  clientName: string;
  action: string;
  /** Each scope asked, with what it allows (`describeScope`). */
  scopes: { name: string; description: string }[];
  hidden: Record<string, string | undefined>;
}

/**
 * The consent page shown after the sign-in on the device verification page (RFC 8628 §5.4): the
 * client's registered name and every scope it asks, escaped by `hono/html`, with Approve and Deny.
 * Same policy as the sign-in page.
 */
export function renderConsentPage(page: ConsentPage) {
  return layout(
    "Allow access",
    html`<h1>Allow access?</h1>
      <p><strong>${page.clientName}</strong> on a device asks to act on your behalf. Approve only if you started this on your own device and it shows the same code.</p>
      <p>It asks to:</p>
      <ul>
        ${page.scopes.length === 0 ? html`<li>Use the account as you would (no extra permission).</li>` : ""}
        ${page.scopes.map((scope) => html`<li><code>${scope.name}</code>: ${scope.description}</li>`)}
      </ul>
      <p>Only what your account holds is granted; never the administrator's role.</p>
      <form method="post" action="${page.action}">
        ${hiddenFields(page.hidden)}
        <p>
          <button type="submit" name="decision" value="approve">Approve</button>
          <button type="submit" name="decision" value="deny">Deny</button>
        </p>
      </form>`,
  );
}
