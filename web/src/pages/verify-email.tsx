import { useEffect, useState } from "preact/hooks";
import { ProblemMessage } from "../components/problem-message.tsx";
import { client, currentUser, loadUser } from "../session/session.ts";

/** The mailed token travels in the link's fragment (`#token=…`), which no server or log ever sees. */
const tokenOf = () => new URLSearchParams(location.hash.slice(1)).get("token") ?? "";

/**
 * The page a verification mail links to. It spends the token only when the person presses the
 * button: a mail scanner that opens the link spends nothing (README "Account lifecycle").
 */
export function VerifyEmail() {
  const [token] = useState(tokenOf);
  const [confirmed, setConfirmed] = useState<string | undefined>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    // The token leaves the address bar (and the history entry) once read.
    if (location.hash) history.replaceState(history.state, "", location.pathname);
  }, []);

  const confirm = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const { data } = await client.api.POST("/auth/email-verification", { body: { token } });
      setConfirmed(data.email);
      if (currentUser.value) await loadUser();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="narrow">
      <h1>Confirm your email address</h1>
      {confirmed ? (
        <p role="status">
          {confirmed} is confirmed. <a href="/">Go to your library</a>.
        </p>
      ) : token ? (
        <>
          <p>Press the button to confirm the address this link was sent to.</p>
          <ProblemMessage error={error} />
          <button type="button" onClick={confirm} disabled={busy} aria-busy={busy}>
            Confirm my address
          </button>
        </>
      ) : (
        <p>This link has no token: open the link from the mail again, or ask for a new one in Settings.</p>
      )}
    </section>
  );
}
