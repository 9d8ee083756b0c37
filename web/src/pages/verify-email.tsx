import { useState } from "preact/hooks";
import { useFragmentToken } from "../components/fragment-token.ts";
import { ProblemMessage } from "../components/problem-message.tsx";
import { useFormAction } from "../components/use-form-action.ts";
import { client, currentUser, loadUser } from "../session/session.ts";

/**
 * The page a verification mail links to. It spends the token only when the person presses the
 * button: a mail scanner that opens the link spends nothing (README "Account lifecycle").
 */
export function VerifyEmail() {
  const token = useFragmentToken();
  const [confirmed, setConfirmed] = useState<string | undefined>();
  const { busy, error, onSubmit } = useFormAction(async () => {
    const { data } = await client.api.POST("/auth/email-verification", { body: { token } });
    setConfirmed(data.email);
    if (currentUser.value) await loadUser();
  });

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
          <form onSubmit={onSubmit}>
            <ProblemMessage error={error} />
            <button type="submit" disabled={busy} aria-busy={busy}>
              Confirm my address
            </button>
          </form>
        </>
      ) : (
        <p>This link has no token: open the link from the mail again, or ask for a new one in Settings.</p>
      )}
    </section>
  );
}
