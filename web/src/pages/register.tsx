import { useLocation } from "preact-iso";
import { ProblemMessage } from "../components/problem-message.tsx";
import { field, useFormAction } from "../components/use-form-action.ts";
import { client, signIn } from "../session/session.ts";

/** Registration: an account, then signed in at once; a link to verify the address is mailed. */
export function Register() {
  const { route } = useLocation();
  const { busy, error, onSubmit } = useFormAction(async (fields) => {
    const username = field(fields, "username");
    const password = field(fields, "password");
    const displayName = field(fields, "displayName").trim();
    await client.api.POST("/users", {
      body: { email: field(fields, "email"), username, password, ...(displayName ? { displayName } : {}) },
    });
    await signIn(username, password);
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
