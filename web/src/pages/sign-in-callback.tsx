import { useEffect, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { ProblemMessage } from "../components/problem-message.tsx";
import { finishSignInPage } from "../session/session.ts";

/**
 * The web app's redirect URI: the API's sign-in page sends the browser here with a `code` (or an
 * `error`, e.g. after Cancel), which is redeemed once; the address bar is then cleared of it.
 */
export function SignInCallback() {
  const { route } = useLocation();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    const callbackUrl = location.href;
    // The code is single-use: keep it out of the history whatever happens next.
    history.replaceState(null, "", location.pathname);
    finishSignInPage(callbackUrl).then((next) => route(next, true), setError);
  }, [route]);

  return (
    <section class="narrow">
      <h1>Signing in…</h1>
      {error === undefined ? (
        <p aria-live="polite">Finishing the sign-in.</p>
      ) : (
        <>
          <ProblemMessage error={error} />
          <p>
            <a href="/sign-in">Back to sign-in</a>
          </p>
        </>
      )}
    </section>
  );
}
