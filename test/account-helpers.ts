import { desc, eq } from "drizzle-orm";
import { expect } from "vitest";
import { stepAt, totpCode } from "../src/auth/totp.ts";
import { asActor, SYSTEM } from "../src/db/actor.ts";
import { openDatabase } from "../src/db/client.ts";
import { auditEvents } from "../src/db/schema/audit.ts";
import { loadApiConfig } from "../src/pkg/config/config.ts";
import { expectOAuthError, PASSWORD, type Tokens, tokenRequest } from "./auth-helpers.ts";
import { api, testEnv } from "./helpers.ts";

// What the account lifecycle tests (required actions, recovery codes, passwords, admin recovery,
// deletion, export) share.

/** A JSON request. */
export const json = (method: string, headers: Record<string, string>, body?: unknown): RequestInit => ({
  method,
  headers: { ...headers, "content-type": "application/json" },
  ...(body === undefined ? {} : { body: JSON.stringify(body) }),
});

/** Enrols TOTP through the API (setup, confirm with the current code): the secret and recovery codes. */
export async function enrolThroughApi(auth: Record<string, string>) {
  const setup = await api("/auth/mfa/setup", { method: "POST", headers: auth });
  expect(setup.status).toBe(200);
  const { secret } = (await setup.json()) as { secret: string };
  const confirm = await api(
    "/auth/mfa/confirm",
    json("POST", auth, { code: await totpCode(secret, stepAt(Date.now())) }),
  );
  expect(confirm.status).toBe(200);
  const { recoveryCodes } = (await confirm.json()) as { recoveryCodes: string[] };
  return { secret, recoveryCodes };
}

/** A password login that must answer `mfa_required`, finished with a recovery code: the tokens. */
export async function loginWithRecoveryCode(username: string, recoveryCode: string, password = PASSWORD) {
  const challenge = await expectOAuthError(
    await tokenRequest({ grant_type: "password", username, password }),
    403,
    "mfa_required",
  );
  const res = await tokenRequest({
    grant_type: "urn:techcorp:params:oauth:grant-type:mfa-otp",
    mfa_token: challenge.mfa_token ?? "",
    recovery_code: recoveryCode,
  });
  return res;
}

/** The tokens of a 200 token response. */
export async function tokensOf(res: Response): Promise<Tokens> {
  expect(res.status).toBe(200);
  return (await res.json()) as Tokens;
}

/** The security events about `userId` (newest first), as the system reads them. */
export async function securityEventsAbout(userId: string) {
  const handle = openDatabase(loadApiConfig(testEnv).database);
  try {
    return await asActor(handle.db, SYSTEM, (tx) =>
      tx.select().from(auditEvents).where(eq(auditEvents.targetUserId, userId)).orderBy(desc(auditEvents.id)),
    );
  } finally {
    await handle.close();
  }
}
