import { type Actor, asActor, type Transaction } from "../db/actor.ts";
import { NoRowsAffectedError } from "../db/affected.ts";
import { type RequestOrigin, recordSecurityEvent } from "../db/queries/audit.ts";
import { consumeRecoveryCode, deleteMfa, getMfa, getUser, putPendingMfa, updateMfa } from "../db/queries/users.ts";
import type { UserMfa } from "../db/schema/users.ts";
import { sha256Hex } from "../pkg/crypto/digest.ts";
import { createSecretBox, type SecretBox } from "../pkg/crypto/secret-box.ts";
import { ApiError } from "../pkg/errors/api-error.ts";
import { type AuthDeps, staffLifetimes, syncPrincipal } from "./auth-service.ts";
import { buckets, lockoutLog, throttledAttempt } from "./throttle.ts";
import { base32Encode, newTotpSecret, otpauthUri, verifyTotp } from "./totp.ts";

/** How many recovery codes an enrolment hands out; each works once. */
const RECOVERY_CODES = 10;
/** Random bytes of a recovery code: 15, i.e. 120 bits, at least ASVS 4.0.3 V2.6.2's 112. */
const RECOVERY_CODE_BYTES = 15;
/** Fewer unused recovery codes than this, and their holder is asked to make new ones. */
export const FEW_RECOVERY_CODES = 3;
/** The issuer an authenticator app shows beside the account (Key Uri Format's `issuer`). */
const TOTP_ISSUER = "TechCorp";

/** A second factor of a signed-in user: who acts (row-level security) and whose enrolment it is. */
export interface MfaCaller {
  actor: Actor;
  userId: string;
}

/** A TOTP code (6 digits) or a recovery code; exactly one is expected. */
export interface SecondFactor {
  otp?: string | undefined;
  recoveryCode?: string | undefined;
}

/**
 * Checks a TOTP or recovery code of `userId` and consumes it, so that it never works twice: a TOTP
 * step is remembered (a concurrent use of the same code loses), a recovery code is removed.
 *
 * @returns false for a wrong, replayed or already used code, or no enrolment
 * @throws what `asActor` throws (DependencyError and the database's errors)
 */
export async function useSecondFactor(
  deps: Pick<AuthDeps, "db" | "config">,
  actor: Actor,
  userId: string,
  input: SecondFactor,
): Promise<boolean> {
  const box = await createSecretBox(deps.config.encryptionKey);
  return asActor(deps.db, actor, (tx) => consumeSecondFactor(tx, box, userId, input));
}

/** `useSecondFactor`'s check and consumption, inside a transaction the caller goes on using. */
async function consumeSecondFactor(tx: Transaction, box: SecretBox, userId: string, input: SecondFactor) {
  const mfa = await getMfa(tx, { userId });
  if (!mfa) return false;
  if (input.otp) {
    const secret = await box.open(mfa.secretCiphertext);
    const step = await verifyTotp(secret, input.otp, { now: Date.now(), lastUsedStep: mfa.lastUsedStep });
    if (step === null) return false;
    // Conditional on the step still being the one we read: a concurrent login with the same code loses.
    return updateMfa(tx, { userId, changes: { lastUsedStep: step }, expectLastUsedStep: mfa.lastUsedStep });
  }
  if (input.recoveryCode && mfa.enabledAt) {
    return consumeRecoveryCode(tx, { userId, hash: await hashRecoveryCode(input.recoveryCode) });
  }
  return false;
}

/**
 * What is stored of a recovery code: SHA-256 of the code without spaces and hyphens, upper-cased
 * (so `abcde-12345` and `ABCDE12345` are one code), as 64 lowercase hex digits.
 */
async function hashRecoveryCode(code: string): Promise<string> {
  const normalised = code.replace(/[\s-]/g, "").toUpperCase();
  return sha256Hex(normalised);
}

/**
 * New recovery codes: 24 base32 characters each (15 random bytes: 120 bits), shown as
 * `XXXXXX-XXXXXX-XXXXXX-XXXXXX`. ASVS 4.0.3 V2.6.2 asks a look-up secret for 112 bits of entropy,
 * or a per-code salt when it has fewer: with 120, an unsalted SHA-256 is enough (no table of
 * hashes covers that space). Codes handed out before (10 characters, 50 bits) keep working until
 * used or regenerated (`POST /auth/mfa/recovery-codes`), since they are hashed the same way;
 * `GET /auth/mfa` tells their holder to regenerate them (`mfaStatus`).
 */
function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODES }, () => {
    const code = base32Encode(crypto.getRandomValues(new Uint8Array(RECOVERY_CODE_BYTES)));
    return code.match(/.{6}/g)?.join("-") ?? code;
  });
}

/** A user's second factor as `GET /auth/mfa` shows it to them. */
export interface MfaStatus {
  /** `off`: no enrolment; `pending`: set up, not confirmed; `on`: asked at every login. */
  status: "off" | "pending" | "on";
  enabledAt: Date | null;
  /** Null unless `on`. */
  recoveryCodes: {
    /** Unused codes left (each works once). */
    remaining: number;
    /** When they were handed out; null for codes from before migration 0035 (50 bits each). */
    issuedAt: Date | null;
    /**
     * True when the codes should be replaced (`POST /auth/mfa/recovery-codes`): they are the old
     * 50-bit ones (below ASVS 4.0.3 V2.6.2's 112 bits, stored unsalted), or fewer than
     * `FEW_RECOVERY_CODES` are left.
     */
    regenerationRecommended: boolean;
  } | null;
}

/** What `GET /auth/mfa` says of an enrolment row (undefined: none). */
export function mfaStatus(enrolment: UserMfa | undefined): MfaStatus {
  if (!enrolment) return { status: "off", enabledAt: null, recoveryCodes: null };
  if (!enrolment.enabledAt) return { status: "pending", enabledAt: null, recoveryCodes: null };
  const remaining = enrolment.recoveryCodeHashes.length;
  const issuedAt = enrolment.recoveryCodesIssuedAt;
  return {
    status: "on",
    enabledAt: enrolment.enabledAt,
    recoveryCodes: {
      remaining,
      issuedAt,
      regenerationRecommended: issuedAt === null || remaining < FEW_RECOVERY_CODES,
    },
  };
}

/**
 * A TOTP or recovery code checked on a signed-in route: counted in the account's second-factor
 * bucket, which the MFA login shares, so a stolen access token gets no more guesses than a stolen
 * password (OWASP API2:2023). Refused with 429 and Retry-After.
 */
function secondFactorAttempt(userId: string, deps: Pick<AuthDeps, "http" | "background">) {
  return {
    buckets: [buckets.secondFactor(userId)],
    lockouts: lockoutLog(deps.http, deps.background),
    refuse: (seconds: number) =>
      new ApiError("rate_limited", {
        detail: `Too many wrong codes; wait ${seconds} s.`,
        headers: { "Retry-After": String(seconds) },
      }),
  };
}

/**
 * Starts TOTP enrolment (RFC 6238): a new secret is stored sealed as the pending one, replacing
 * any earlier pending secret; MFA stays off until `confirmMfaEnrolment`.
 *
 * @returns the base32 secret and its `otpauth://` URI (Google Authenticator's Key Uri Format),
 *   labelled with the user's email
 * @throws ApiError `conflict` when MFA is already on; what `asActor` throws
 */
export async function startMfaEnrolment(
  deps: Pick<AuthDeps, "db" | "config">,
  caller: MfaCaller,
): Promise<{ secret: string; otpauthUri: string }> {
  const { actor, userId } = caller;
  const box = await createSecretBox(deps.config.encryptionKey);
  const secret = newTotpSecret();
  const sealed = await box.seal(secret);
  const email = await asActor(deps.db, actor, async (tx) => {
    const existing = await getMfa(tx, { userId });
    if (existing?.enabledAt) throw new ApiError("conflict", { detail: "MFA is already on; disable it first." });
    await putPendingMfa(tx, { userId, secretCiphertext: sealed });
    return (await getUser(tx, { id: userId }))?.email ?? userId;
  });
  return { secret, otpauthUri: otpauthUri(secret, email, TOTP_ISSUER) };
}

/**
 * Turns MFA on with a code of the pending secret, as one throttled attempt in the account's
 * second-factor bucket; the code's step is remembered so it cannot be used again to log in.
 * `mfa.enabled` is recorded in the same transaction (one statement more).
 *
 * @returns the one-time recovery codes (only their hashes are stored), or undefined when the code
 *   does not match
 * @throws ApiError `conflict` with no pending enrolment or MFA already on, `rate_limited` (429,
 *   Retry-After) after too many wrong codes; DependencyError("login throttle"); what `asActor` throws
 */
export async function confirmMfaEnrolment(
  deps: Pick<AuthDeps, "db" | "http" | "sessions" | "config" | "throttle" | "client" | "background">,
  caller: MfaCaller,
  code: string,
): Promise<string[] | undefined> {
  const { actor, userId } = caller;
  const box = await createSecretBox(deps.config.encryptionKey);
  const codes = newRecoveryCodes();
  const hashes = await Promise.all(codes.map(hashRecoveryCode));
  const confirmed = await throttledAttempt(deps.throttle, secondFactorAttempt(userId, deps), () =>
    asActor(deps.db, actor, async (tx) => {
      const pending = await getMfa(tx, { userId });
      if (!pending) throw new ApiError("conflict", { detail: "Start with /auth/mfa/setup." });
      if (pending.enabledAt) throw new ApiError("conflict", { detail: "MFA is already on." });
      const step = await verifyTotp(await box.open(pending.secretCiphertext), code, {
        now: Date.now(),
        lastUsedStep: null,
      });
      if (step === null) return undefined;
      const enabled = await updateMfa(tx, {
        userId,
        changes: {
          enabledAt: new Date(),
          lastUsedStep: step,
          recoveryCodeHashes: hashes,
          recoveryCodesIssuedAt: new Date(),
        },
      });
      if (!enabled) throw new NoRowsAffectedError("turning the second factor on", 1, 0);
      await recordSecurityEvent(tx, {
        action: "mfa.enabled",
        actorId: userId,
        targetUserId: userId,
        origin: deps.client,
      });
      return true;
    }),
  );
  if (!confirmed) return undefined;
  // A staff account's CONFIGURE_TOTP required action ends now, for every session of the user.
  await syncPrincipal({ ...deps, staffLifetimes: staffLifetimes(deps.config) }, userId);
  return codes;
}

/**
 * Turns MFA off with a TOTP or recovery code (consumed as a login would), as one throttled
 * attempt in the account's second-factor bucket; the enrolment and its recovery codes are deleted,
 * and `mfa.disabled` recorded, in one transaction (one statement more).
 *
 * @returns false when the code is wrong or was already used (nothing changed)
 * @throws ApiError `conflict` when MFA is not on, `rate_limited` (429, Retry-After) after too many
 *   wrong codes; DependencyError("login throttle"); what `asActor` throws
 */
export async function disableMfa(
  deps: Pick<AuthDeps, "db" | "http" | "sessions" | "config" | "throttle" | "client" | "background">,
  caller: MfaCaller,
  factor: SecondFactor,
): Promise<boolean> {
  const { actor, userId } = caller;
  const enrolled = await asActor(deps.db, actor, (tx) => getMfa(tx, { userId }));
  if (!enrolled?.enabledAt) throw new ApiError("conflict", { detail: "MFA is not on." });
  const accepted = await throttledAttempt(deps.throttle, secondFactorAttempt(userId, deps), async () => {
    const used = await useSecondFactor(deps, actor, userId, factor);
    return used || undefined;
  });
  if (!accepted) return false;
  const details = { factor: factor.otp ? "otp" : "recovery_code" };
  await asActor(deps.db, actor, async (tx) => {
    await deleteMfa(tx, { userId });
    await recordSecurityEvent(tx, {
      action: "mfa.disabled",
      actorId: userId,
      targetUserId: userId,
      origin: deps.client,
      details,
    });
  });
  // A staff account without MFA is restricted again (CONFIGURE_TOTP), from its next request.
  await syncPrincipal(deps, userId);
  return true;
}

/**
 * Replaces the user's recovery codes with ten new ones (`POST /auth/mfa/recovery-codes`), proven
 * by a current TOTP or recovery code, which is consumed; as one throttled attempt in the account's
 * second-factor bucket. The code's use, the new hashes and the security event
 * `mfa.recovery_codes_regenerated` are one transaction.
 *
 * @returns the new codes (shown once), or undefined when the code was wrong or already used
 * @throws ApiError `conflict` when MFA is not on, `rate_limited` (429, Retry-After) after too many
 *   wrong codes; DependencyError("login throttle"); what `asActor` throws
 */
export async function regenerateRecoveryCodes(
  deps: Pick<AuthDeps, "db" | "http" | "config" | "throttle" | "background">,
  caller: MfaCaller & { origin: RequestOrigin },
  factor: SecondFactor,
): Promise<string[] | undefined> {
  const { actor, userId } = caller;
  const box = await createSecretBox(deps.config.encryptionKey);
  const codes = newRecoveryCodes();
  const hashes = await Promise.all(codes.map(hashRecoveryCode));
  // One transaction: the enrolment's check, the code's use, the new hashes and the event.
  return throttledAttempt(deps.throttle, secondFactorAttempt(userId, deps), () =>
    asActor(deps.db, actor, async (tx) => {
      const enrolled = await getMfa(tx, { userId });
      if (!enrolled?.enabledAt) throw new ApiError("conflict", { detail: "MFA is not on." });
      if (!(await consumeSecondFactor(tx, box, userId, factor))) return undefined;
      if (
        !(await updateMfa(tx, { userId, changes: { recoveryCodeHashes: hashes, recoveryCodesIssuedAt: new Date() } }))
      ) {
        throw new NoRowsAffectedError("replacing the recovery codes", 1, 0);
      }
      await recordSecurityEvent(tx, {
        action: "mfa.recovery_codes_regenerated",
        actorId: userId,
        targetUserId: userId,
        origin: caller.origin,
      });
      return codes;
    }),
  );
}
