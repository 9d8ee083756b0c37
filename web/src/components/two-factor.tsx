import type { components } from "@techcorp/sdk";
import { useEffect, useRef, useState } from "preact/hooks";
import { client } from "../session/session.ts";
import { ProblemMessage } from "./problem-message.tsx";

type MfaStatus = components["schemas"]["MfaStatus"];
type MfaSetup = components["schemas"]["MfaSetup"];

/**
 * Two-factor authentication (TOTP, RFC 6238): its status, and enrolment: a new secret as a QR code
 * (drawn on a canvas, which the page's policy allows) and as text, confirmed with a first code; the
 * recovery codes are then shown once. Staff accounts must enrol before anything else (README,
 * "Required actions").
 */
export function TwoFactor() {
  const [status, setStatus] = useState<MfaStatus | undefined>();
  const [setup, setSetup] = useState<MfaSetup | undefined>();
  const [recoveryCodes, setRecoveryCodes] = useState<string[] | undefined>();
  const [error, setError] = useState<unknown>();
  const qr = useRef<HTMLCanvasElement>(null);

  const load = async () => {
    try {
      setStatus((await client.api.GET("/auth/mfa")).data);
    } catch (caught) {
      setError(caught);
    }
  };

  useEffect(() => {
    void load();
  }, []);

  useEffect(() => {
    if (!setup || !qr.current) return;
    const canvas = qr.current;
    void import("qrcode").then(({ toCanvas }) => toCanvas(canvas, setup.otpauthUri, { width: 200 }));
  }, [setup]);

  const start = async () => {
    setError(undefined);
    try {
      setSetup((await client.api.POST("/auth/mfa/setup")).data);
    } catch (caught) {
      setError(caught);
    }
  };

  const confirm = async (event: SubmitEvent) => {
    event.preventDefault();
    const code = String(new FormData(event.currentTarget as HTMLFormElement).get("code") ?? "").replace(/\s+/g, "");
    setError(undefined);
    try {
      const { data } = await client.api.POST("/auth/mfa/confirm", { body: { code } });
      setRecoveryCodes(data.recoveryCodes);
      setSetup(undefined);
      await load();
    } catch (caught) {
      setError(caught);
    }
  };

  return (
    <section aria-labelledby="mfa-heading">
      <h2 id="mfa-heading">Two-factor authentication</h2>
      {status ? (
        <p>
          {status.status === "on"
            ? `On: a code from your authenticator app is asked at every sign-in.${status.recoveryCodes ? ` ${status.recoveryCodes.remaining} recovery codes left.` : ""}`
            : "Off."}
        </p>
      ) : null}
      {recoveryCodes ? (
        <div role="status">
          <p>
            Keep these recovery codes somewhere safe: each signs you in once if you lose your phone. They are not shown
            again.
          </p>
          <ul class="recovery-codes">
            {recoveryCodes.map((code) => (
              <li key={code}>
                <code>{code}</code>
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      {setup ? (
        <form onSubmit={confirm}>
          <p>Scan this code with your authenticator app, or type the key in.</p>
          <canvas ref={qr} role="img" aria-label="QR code of the authenticator key" />
          <p>
            Key: <code class="secret">{setup.secret}</code>
          </p>
          <label>
            The 6-digit code the app shows
            <input name="code" inputMode="numeric" autocomplete="one-time-code" required pattern="[0-9 ]{6,7}" />
          </label>
          <button type="submit">Turn on</button>
        </form>
      ) : status && status.status !== "on" ? (
        <button type="button" onClick={start}>
          Set up two-factor authentication
        </button>
      ) : null}
      <ProblemMessage error={error} />
    </section>
  );
}
