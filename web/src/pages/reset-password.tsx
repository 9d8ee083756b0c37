import { useState } from "preact/hooks";
import { useFragmentToken } from "../components/fragment-token.ts";
import { ProblemMessage } from "../components/problem-message.tsx";
import { field, useFormAction } from "../components/use-form-action.ts";
import { client } from "../session/session.ts";

/**
 * Without a token: ask for a reset link (the same answer whether or not an account has the
 * address). With the token a mail linked to (`#token=…`): set the new password, which ends every
 * session of the account.
 */
export function ResetPassword() {
  const token = useFragmentToken();
  const [done, setDone] = useState<string | undefined>();
  const { busy, error, onSubmit } = useFormAction(async (fields) => {
    if (token) {
      await client.api.POST("/auth/password-reset/confirm", { body: { token, password: field(fields, "password") } });
      setDone("Your password is set, and every session of your account has ended. Sign in with the new password.");
    } else {
      const { data } = await client.api.POST("/auth/password-reset", { body: { email: field(fields, "email") } });
      setDone(data.detail);
    }
  });

  return (
    <section class="narrow">
      <h1>{token ? "Choose a new password" : "Reset your password"}</h1>
      {done ? (
        <p role="status">
          {done} <a href="/sign-in">Sign in</a>.
        </p>
      ) : (
        <form onSubmit={onSubmit}>
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
