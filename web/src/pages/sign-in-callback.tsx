import { AuthorizationError } from "@techcorp/sdk";
import { useEffect, useRef, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { ProblemMessage } from "../components/problem-message.tsx";
import { currentUser, finishSignInPage } from "../session/session.ts";

/**
 * The web app's redirect URI: the API's sign-in page sends the browser here with a `code` (or an
 * `error`, e.g. after Cancel), which is redeemed once; the address bar is then cleared of it.
 */
export function SignInCallback() {
  const { route } = useLocation();
  const [error, setError] = useState<unknown>();
  // The code is redeemed once, whatever re-renders follow (each would find the pending sign-in gone).
  const started = useRef(false);
  useEffect(() => {
    if (started.current) return;
    started.current = true;
    const callbackUrl = location.href;
    // The code is single-use: keep it out of the history whatever happens next.
    history.replaceState(null, "", location.pathname);
    finishSignInPage(callbackUrl).then(
      (next) => route(next, true),
      (error: unknown) => {
        // A callback this tab did not start (Back to it, a reload) while signed in: nothing to do.
        if (error instanceof AuthorizationError && error.error === "invalid_state" && currentUser.value) {
          route("/", true);
          return;
        }
        setError(error);
      },
    );
  }, [route]);

  return (
    <section class="narrow">
      <h1>{error === undefined ? "Signing in…" : "Not signed in"}</h1>
      {error === undefined ? (
        <p aria-live="polite">Finishing the sign-in.</p>
      ) : (
        <>
          {error instanceof AuthorizationError && error.error === "access_denied" ? (
            <p role="alert">You cancelled the sign-in.</p>
          ) : (
            <ProblemMessage error={error} />
          )}
          <p>
            <a href="/sign-in">Back to sign-in</a>
          </p>
        </>
      )}
    </section>
  );
}
