import { ProblemError } from "@techcorp/sdk";
import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { ProblemMessage } from "../components/problem-message.tsx";
import { field, useFormAction } from "../components/use-form-action.ts";
import { client, signIn } from "../session/session.ts";

/**
 * Registration: an account, then signed in at once; a link to verify the address is mailed. The
 * API answers 201 whether or not the address or username was free (no account enumeration), and
 * mails the address either way: when the new account's sign-in is then refused, the page says to
 * read that mail instead of showing a wrong-password error.
 */
export function Register() {
  const { route } = useLocation();
  const [mailedTo, setMailedTo] = useState<string | undefined>();
  const { busy, error, onSubmit } = useFormAction(async (fields) => {
    const email = field(fields, "email");
    const username = field(fields, "username");
    const password = field(fields, "password");
    const displayName = field(fields, "displayName").trim();
    setMailedTo(undefined);
    await client.api.POST("/users", {
      body: { email, username, password, ...(displayName ? { displayName } : {}) },
    });
    // By the address just registered, not the username: a taken username with its owner's
    // password must not sign in to the owner's account from the registration form.
    const signedIn = await signIn(email, password).catch((caught: unknown) => {
      if (caught instanceof ProblemError && caught.problem.error === "invalid_grant") return undefined;
      throw caught;
    });
    if (signedIn?.kind !== "signed-in") {
      // No such account (it was not created), or the address's owner has MFA on: the mail says what to do.
      setMailedTo(email);
      return;
    }
    route("/?welcome=1");
  });

  return (
    <section class="narrow">
      <h1>Create an account</h1>
      <form onSubmit={onSubmit}>
        <label>
          Email
          <input name="email" type="email" autocomplete="email" required />
        </label>
        <label>
          Username
          <input name="username" autocomplete="username" required minLength={3} maxLength={100} />
        </label>
        <label>
          Display name (optional)
          <input name="displayName" autocomplete="name" maxLength={100} />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autocomplete="new-password"
            required
            minLength={12}
            aria-describedby="password-rule"
          />
        </label>
        <p id="password-rule" class="hint">
          At least 12 characters, not containing your username.
        </p>
        <ProblemMessage error={error} />
        {mailedTo ? (
          <p class="notice" role="status">
            We sent a message to {mailedTo}: read it to continue. If this address or this username already has an
            account, the message says what to do (sign in, or reset the password).
          </p>
        ) : null}
        <button type="submit" disabled={busy} aria-busy={busy}>
          Create account
        </button>
      </form>
      <p>
        Already have an account? <a href="/sign-in">Sign in</a>.
      </p>
    </section>
  );
}
