import { useState } from "preact/hooks";
import { ProblemMessage } from "../components/problem-message.tsx";
import { client } from "../session/session.ts";

const tokenOf = () => new URLSearchParams(location.hash.slice(1)).get("token") ?? "";

/**
 * Without a token: ask for a reset link (the same answer whether or not an account has the
 * address). With the token a mail linked to (`#token=…`): set the new password, which ends every
 * session of the account.
 */
export function ResetPassword() {
  const [token] = useState(() => {
    const found = tokenOf();
    if (location.hash) history.replaceState(history.state, "", location.pathname);
    return found;
  });
  const [done, setDone] = useState<string | undefined>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    setBusy(true);
    setError(undefined);
    try {
      if (token) {
        await client.api.POST("/auth/password-reset/confirm", {
          body: { token, password: String(form.get("password") ?? "") },
        });
        setDone("Your password is set, and every session of your account has ended. Sign in with the new password.");
      } else {
        const { data } = await client.api.POST("/auth/password-reset", {
          body: { email: String(form.get("email") ?? "") },
        });
        setDone(data.detail);
      }
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="narrow">
      <h1>{token ? "Choose a new password" : "Reset your password"}</h1>
      {done ? (
        <p role="status">
          {done} <a href="/sign-in">Sign in</a>.
        </p>
      ) : (
        <form onSubmit={submit}>
          {token ? (
            <label>
              New password (at least 12 characters)
              <input name="password" type="password" autocomplete="new-password" required minLength={12} />
            </label>
          ) : (
            <label>
              Your account's email address
              <input name="email" type="email" autocomplete="email" required />
            </label>
          )}
          <ProblemMessage error={error} />
          <button type="submit" disabled={busy} aria-busy={busy}>
            {token ? "Set password" : "Send me a link"}
          </button>
        </form>
      )}
    </section>
  );
}
