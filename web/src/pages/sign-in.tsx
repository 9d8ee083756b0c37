import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { ProblemMessage } from "../components/problem-message.tsx";
import { field, useFormAction } from "../components/use-form-action.ts";
import { completeSignIn, restoreError, signIn, startSignInPage } from "../session/session.ts";

/** Where to go after signing in: the page the visitor was sent away from, if it is one of ours. */
function nextPage(query: Record<string, string>): string {
  const next = query.next ?? "/";
  return next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

/**
 * Sign-in with a username (or email) and password, then the authenticator code when MFA is on; or
 * on the API's sign-in page, which also offers the third-party providers (the authorization code
 * flow with PKCE, back at /sign-in/callback).
 */
export function SignIn() {
  const { query, route } = useLocation();
  const [mfaToken, setMfaToken] = useState<string | undefined>();
  const signInPage = useFormAction(() => startSignInPage(nextPage(query)));
  const { busy, error, onSubmit } = useFormAction(async (fields) => {
    if (mfaToken) await completeSignIn(mfaToken, field(fields, "code"));
    else {
      const result = await signIn(field(fields, "username"), field(fields, "password"));
      if (result.kind === "mfa-required") {
        setMfaToken(result.mfaToken);
        return;
      }
    }
    route(nextPage(query));
  });

  return (
    <section class="narrow">
      <h1>Sign in</h1>
      {restoreError.value === undefined ? null : (
        <div class="notice">
          <p>Your session could not be resumed just now: reload the page in a moment, or sign in again.</p>
          <ProblemMessage error={restoreError.value} />
        </div>
      )}
      <form onSubmit={onSubmit}>
        {mfaToken ? (
          <label>
            Code from your authenticator app (or a recovery code)
            <input name="code" autocomplete="one-time-code" inputMode="numeric" required />
          </label>
        ) : (
          <>
            <label>
              Username or email
              <input name="username" autocomplete="username" required />
            </label>
            <label>
              Password
              <input name="password" type="password" autocomplete="current-password" required />
            </label>
          </>
        )}
        <ProblemMessage error={error} />
        <button type="submit" disabled={busy} aria-busy={busy}>
          {mfaToken ? "Verify" : "Sign in"}
        </button>
      </form>
      {mfaToken ? null : (
        <form onSubmit={signInPage.onSubmit}>
          <ProblemMessage error={signInPage.error} />
          <button type="submit" class="secondary" disabled={signInPage.busy} aria-busy={signInPage.busy}>
            Sign in with single sign-on or another provider
          </button>
        </form>
      )}
      <p>
        New here? <a href="/register">Create an account</a>. Forgot your password?{" "}
        <a href="/reset-password">Reset it</a>.
      </p>
    </section>
  );
}
