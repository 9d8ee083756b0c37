import { setTimeout as sleep } from "node:timers/promises";
import { ProblemError, type TechCorpClient } from "@techcorp/sdk";
import type { CommandContext } from "./session.ts";

const DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";
/** RFC 8628 §3.5: on `slow_down` the interval grows by 5 seconds for this and every later request. */
const SLOW_DOWN_STEP_SECONDS = 5;

/**
 * Signs `client` in with the device authorization grant (RFC 8628): asks for a user code, tells the
 * person where to confirm it, and polls the token endpoint at the interval the server gave until
 * they approve. The client then uses the session (its `onTokens` has stored it).
 * @throws ProblemError `access_denied` (the person refused), `expired_token` (not approved within
 *   `expires_in`, 600 s), or any other error of the endpoints; the signal's reason when aborted.
 */
export async function signInWithDevice(context: CommandContext, client: TechCorpClient, clientId: string): Promise<void> {
  const { data: grant } = await client.api.POST("/auth/device_authorization", {
    body: { client_id: clientId },
  });
  context.output.note(
    [
      `To sign in, open ${grant.verification_uri_complete}`,
      `and check that it shows the code ${grant.user_code} (at ${grant.verification_uri} you can type it in).`,
      "Waiting for you to approve…",
    ].join("\n"),
  );
  let intervalSeconds = grant.interval;
  const deadline = Date.now() + grant.expires_in * 1000;
  for (;;) {
    await sleep(intervalSeconds * 1000, undefined, { signal: context.signal });
    try {
      await client.signInWithGrant({ grant_type: DEVICE_CODE_GRANT, device_code: grant.device_code, client_id: clientId });
      return;
    } catch (error) {
      const code = error instanceof ProblemError ? error.problem.error : undefined;
      if (code === "authorization_pending" && Date.now() < deadline) continue;
      if (code === "slow_down") {
        intervalSeconds += SLOW_DOWN_STEP_SECONDS;
        continue;
      }
      throw error;
    }
  }
}
