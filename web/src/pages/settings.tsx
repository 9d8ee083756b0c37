import type { components } from "@techcorp/sdk";
import { useCallback, useEffect, useState } from "preact/hooks";
import { formatInstant } from "../components/format.ts";
import { ProblemMessage } from "../components/problem-message.tsx";
import { TwoFactor } from "../components/two-factor.tsx";
import { client, currentUser } from "../session/session.ts";

type Session = components["schemas"]["Session"];

/** The account: the address's verification, the password, and the sessions signed in elsewhere. */
export function Settings() {
  const user = currentUser.value;
  if (!user) return null;
  return (
    <>
      <h1>Settings</h1>
      <section aria-labelledby="account-heading">
        <h2 id="account-heading">Account</h2>
        <dl class="details">
          <dt>Username</dt>
          <dd>{user.username}</dd>
          <dt>Email</dt>
          <dd>
            {user.email} {user.emailVerified ? "(confirmed)" : "(not confirmed)"}
          </dd>
          <dt>Role</dt>
          <dd>{user.role}</dd>
        </dl>
        {user.emailVerified ? null : <ResendVerification />}
      </section>
      <TwoFactor />
      <ChangePassword />
      <Sessions />
    </>
  );
}

function ResendVerification() {
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<unknown>();
  const resend = async () => {
    setError(undefined);
    try {
      await client.api.POST("/users/me/email-verification");
      setSent(true);
    } catch (caught) {
      setError(caught);
    }
  };
  return (
    <>
      <p>Confirm your address to share documents.</p>
      <button type="button" onClick={resend} disabled={sent}>
        {sent ? "Link sent: check your mail" : "Send the link again"}
      </button>
      <ProblemMessage error={error} />
    </>
  );
}

function ChangePassword() {
  const [done, setDone] = useState(false);
  const [error, setError] = useState<unknown>();
  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const fields = new FormData(form);
    setError(undefined);
    setDone(false);
    try {
      await client.api.POST("/users/me/password", {
        body: {
          currentPassword: String(fields.get("currentPassword") ?? ""),
          newPassword: String(fields.get("newPassword") ?? ""),
        },
      });
      form.reset();
      setDone(true);
    } catch (caught) {
      setError(caught);
    }
  };
  return (
    <section aria-labelledby="password-heading">
      <h2 id="password-heading">Password</h2>
      <form onSubmit={submit}>
        <label>
          Current password
          <input name="currentPassword" type="password" autocomplete="current-password" required />
        </label>
        <label>
          New password (at least 12 characters)
          <input name="newPassword" type="password" autocomplete="new-password" required minLength={12} />
        </label>
        <ProblemMessage error={error} />
        <button type="submit">Change password</button>
        {done ? <p role="status">Changed. Your other sessions have ended.</p> : null}
      </form>
    </section>
  );
}

function Sessions() {
  const [sessions, setSessions] = useState<Session[]>([]);
  const [error, setError] = useState<unknown>();
  const load = useCallback(async () => {
    try {
      const { data } = await client.api.GET("/auth/sessions");
      setSessions(data.data);
    } catch (caught) {
      setError(caught);
    }
  }, []);
  useEffect(() => {
    void load();
  }, [load]);
  const end = async (id: string) => {
    setError(undefined);
    try {
      await client.api.DELETE("/auth/sessions/{id}", { params: { path: { id } } });
      await load();
    } catch (caught) {
      setError(caught);
    }
  };
  return (
    <section aria-labelledby="sessions-heading">
      <h2 id="sessions-heading">Where you are signed in</h2>
      <ul class="sessions">
        {sessions.map((session) => (
          <li key={session.id}>
            {session.userAgent ?? "Unknown device"} {session.ip ? `(${session.ip})` : ""}, last used{" "}
            {formatInstant(session.lastUsedAt)}
            {session.current ? (
              " (this browser)"
            ) : (
              <button type="button" class="secondary" onClick={() => end(session.id)}>
                Sign out<span class="visually-hidden"> this session</span>
              </button>
            )}
          </li>
        ))}
      </ul>
      <ProblemMessage error={error} />
    </section>
  );
}
