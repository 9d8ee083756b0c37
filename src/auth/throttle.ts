import { batchAsActor, SYSTEM } from "../db/actor.ts";
import type { HttpDatabase } from "../db/client.ts";
import { clearLockouts, recordLockout } from "../db/queries/users.ts";
import type { LockoutBucket } from "../db/schema/users.ts";
import {
  CLIENT_FREE_ATTEMPTS,
  FREE_ATTEMPTS,
  type LoginThrottle,
  type Reservation,
  type ThrottleState,
} from "../durable-objects/login-throttle.ts";
import { type ApiError, DependencyError } from "../pkg/errors/api-error.ts";
import { clientAddressKey } from "../pkg/http/client-address.ts";

/**
 * A LOGIN_THROTTLE bucket and what a right secret does to it: an account's or second factor's
 * counted attempts are forgotten (`clear`); a client address's are only taken back one
 * (`release`), so that one right password does not wipe out a spray of wrong ones from the same
 * address.
 */
export interface ThrottleBucket {
  key: string;
  onSuccess: "clear" | "release";
  /** Attempts allowed before waits begin (`FREE_ATTEMPTS`, or `CLIENT_FREE_ATTEMPTS` for addresses). */
  freeAttempts: number;
  /** An account's bucket: whose and which, so that its locking is recorded (`LockoutLog`). */
  lockout?: { userId: string; bucket: LockoutBucket };
}

/**
 * Where an account's lock-outs are recorded (the throttle's objects cannot be listed): told when
 * a bucket starts refusing (its failed attempt was the last free one) and when a locked bucket
 * succeeds again; never on an attempt that changes neither. Recording happens after the answer
 * and its failures are swallowed: a login is not refused, nor slowed, because the list could not
 * be written. Only real accounts have lock-outs, so a login that waited for the record would tell
 * by its time which identifiers exist (OWASP WSTG-ATHN-03; ASVS 4.0.3 V2.2.1).
 */
export interface LockoutLog {
  locked(lockout: { userId: string; bucket: LockoutBucket; attempts: number }): void;
  unlocked(lockout: { userId: string; bucket: LockoutBucket }): void;
}

/** Schedules work after the response (the request's `services.background`); a failure is logged. */
export type Background = (name: string, task: () => Promise<unknown>) => void;

/**
 * The lock-out record of Postgres (`account_lockouts`), written as the system in one HTTP batch
 * each, after the answer (`background`), as failed-login events are.
 */
export function lockoutLog(http: HttpDatabase, background: Background): LockoutLog {
  return {
    locked: (lockout) =>
      background("recording a lock-out", () => batchAsActor(http, SYSTEM, (db) => [recordLockout(db, lockout)])),
    unlocked: (lockout) =>
      background("clearing a lock-out", () => batchAsActor(http, SYSTEM, (db) => [clearLockouts(db, lockout)])),
  };
}

/** The buckets guesses are counted in (OWASP API2:2023; ASVS v4.0.3 V2.2.1). */
export const buckets = {
  /** The password of an account, whichever identifier (email or username) was typed. */
  account: (userId: string): ThrottleBucket => ({
    key: `account:${userId}`,
    onSuccess: "clear",
    freeAttempts: FREE_ATTEMPTS,
    lockout: { userId, bucket: "password" },
  }),
  /**
   * An identifier that names no account. It behaves as an account's bucket does, so waits tell
   * nothing about which identifiers exist.
   */
  unknownLogin: (login: string): ThrottleBucket => ({
    key: `unknown-login:${login.trim().toLowerCase()}`,
    onSuccess: "clear",
    freeAttempts: FREE_ATTEMPTS,
  }),
  /** TOTP and recovery codes of an account: login, enrolment and turning MFA off share it. */
  secondFactor: (userId: string): ThrottleBucket => ({
    key: `second-factor:${userId}`,
    onSuccess: "clear",
    freeAttempts: FREE_ATTEMPTS,
    lockout: { userId, bucket: "second_factor" },
  }),
  /** A client address (an IPv6 one by its /64). */
  client: (address: string): ThrottleBucket => ({
    key: `ip:${clientAddressKey(address)}`,
    onSuccess: "release",
    freeAttempts: CLIENT_FREE_ATTEMPTS,
  }),
};

/** Turns the longest wait (in whole seconds, at least 1) into the error the route answers with. */
export type Refusal = (waitSeconds: number) => ApiError;

/**
 * Checks a secret as one throttled attempt. Before `verify` runs, an attempt is reserved in every
 * bucket in one atomic step each (`LoginThrottle.reserve`): when any bucket says wait, the others
 * are released and `refuse` is thrown, and the secret is never checked. `verify` resolves to its
 * result when the secret was right (the buckets are then cleared or released) or to `undefined`
 * when it was wrong (the attempts stay counted). If `verify` throws (a dependency failed), the
 * attempts are released and the error propagates.
 *
 * @throws the result of `refuse` when a bucket must wait; `DependencyError("login throttle")`
 *   when the throttle cannot be reached (a 503: guessing is never let through unthrottled).
 */
export async function throttledAttempt<T>(
  throttle: DurableObjectNamespace<LoginThrottle>,
  attempt: { buckets: ThrottleBucket[]; refuse: Refusal; lockouts?: LockoutLog | undefined },
  verify: () => Promise<T | undefined>,
): Promise<T | undefined> {
  const stubs = attempt.buckets.map((bucket) => ({ bucket, stub: throttle.get(throttle.idFromName(bucket.key)) }));
  const reservations = await Promise.allSettled(
    stubs.map(({ bucket, stub }) => stub.reserve({ freeAttempts: bucket.freeAttempts })),
  );
  const reserved = stubs.filter((_, i) => {
    const outcome = reservations[i];
    return outcome?.status === "fulfilled" && outcome.value.allowed;
  });
  const failed = reservations.find((r): r is PromiseRejectedResult => r.status === "rejected");
  const refusals = reservations
    .map((r) => (r.status === "fulfilled" ? r.value : undefined))
    .filter((r): r is Extract<Reservation, { allowed: false }> => r !== undefined && !r.allowed);
  if (failed || refusals.length > 0) {
    await releaseQuietly(reserved.map(({ stub }) => stub));
    if (failed) throw new DependencyError("login throttle", failed.reason);
    const waitMs = Math.max(...refusals.map((r) => r.waitMs));
    throw attempt.refuse(Math.max(1, Math.ceil(waitMs / 1000)));
  }

  let result: T | undefined;
  try {
    result = await verify();
  } catch (error) {
    await releaseQuietly(reserved.map(({ stub }) => stub));
    throw error;
  }
  const counted = stubs
    .map(({ bucket }, i) => ({ bucket, attempts: attemptsOf(reservations[i]) }))
    .filter(({ attempts }) => attempts > 0);
  if (result === undefined) {
    // This failure used the last free attempt: from now on the bucket refuses (a lock event).
    recordQuietly(
      attempt.lockouts,
      counted.filter(({ bucket, attempts }) => bucket.lockout && attempts === bucket.freeAttempts),
      (log, lockout, attempts) => log.locked({ ...lockout, attempts }),
    );
    return undefined;
  }
  try {
    await Promise.all(
      reserved.map(({ bucket, stub }) => (bucket.onSuccess === "clear" ? stub.succeed() : stub.release())),
    );
  } catch (error) {
    throw new DependencyError("login throttle", error);
  }
  // More attempts than the free ones before this success: the bucket had been refusing.
  recordQuietly(
    attempt.lockouts,
    counted.filter(
      ({ bucket, attempts }) => bucket.lockout && bucket.onSuccess === "clear" && attempts > bucket.freeAttempts,
    ),
    (log, lockout) => log.unlocked(lockout),
  );
  return result;
}

function attemptsOf(outcome: PromiseSettledResult<Reservation> | undefined): number {
  return outcome?.status === "fulfilled" && outcome.value.allowed ? outcome.value.attempts : 0;
}

/** Tells `log` about each bucket's lock or unlock (recorded after the answer, see `LockoutLog`). */
function recordQuietly(
  log: LockoutLog | undefined,
  events: { bucket: ThrottleBucket; attempts: number }[],
  record: (log: LockoutLog, lockout: { userId: string; bucket: LockoutBucket }, attempts: number) => void,
): void {
  if (!log) return;
  for (const { bucket, attempts } of events) if (bucket.lockout) record(log, bucket.lockout, attempts);
}

/**
 * Forgets every counted attempt of the account's password and second-factor buckets (an
 * administrator's unlock): the next login is not made to wait.
 * @throws DependencyError("login throttle") when a bucket cannot be reached
 */
export async function clearAccountThrottle(
  throttle: DurableObjectNamespace<LoginThrottle>,
  userId: string,
): Promise<void> {
  const keys = [buckets.account(userId).key, buckets.secondFactor(userId).key];
  await reach(() => Promise.all(keys.map((key) => throttle.get(throttle.idFromName(key)).succeed())));
}

/**
 * The state of the account's bucket now (attempts counted, ms to wait), without counting one;
 * `locked` while its free attempts are used up (the next one waits, or waited).
 * @throws DependencyError("login throttle") when the bucket cannot be reached
 */
export async function accountThrottleState(
  throttle: DurableObjectNamespace<LoginThrottle>,
  lockout: { userId: string; bucket: LockoutBucket },
): Promise<ThrottleState & { locked: boolean }> {
  const bucket = lockout.bucket === "password" ? buckets.account(lockout.userId) : buckets.secondFactor(lockout.userId);
  const state = await reach(() =>
    throttle.get(throttle.idFromName(bucket.key)).check({ freeAttempts: bucket.freeAttempts }),
  );
  return { ...state, locked: state.waitMs > 0 || state.attempts >= bucket.freeAttempts };
}

/** Takes reserved attempts back when none was used; an unreachable throttle keeps them (they expire). */
async function releaseQuietly(stubs: { release(): Promise<void> }[]): Promise<void> {
  await Promise.allSettled(stubs.map((stub) => stub.release()));
}

/**
 * Checks a secret too long to guess (a refresh token's 256 bits) under the throttle of one bucket:
 * refused while the bucket says wait, and a wrong secret counted afterwards. Nothing is reserved,
 * since concurrency buys a guesser nothing against such a secret, while reservations would make
 * one client's parallel legitimate uses refuse each other. `verify` resolves as in
 * `throttledAttempt`.
 *
 * @throws the result of `refuse` while the bucket must wait; `DependencyError("login throttle")`
 *   when the throttle cannot be reached.
 */
export async function throttledCheck<T>(
  throttle: DurableObjectNamespace<LoginThrottle>,
  attempt: { bucket: ThrottleBucket; refuse: Refusal },
  verify: () => Promise<T | undefined>,
): Promise<T | undefined> {
  const stub = throttle.get(throttle.idFromName(attempt.bucket.key));
  const options = { freeAttempts: attempt.bucket.freeAttempts };
  const state = await reach(() => stub.check(options));
  if (state.waitMs > 0) throw attempt.refuse(Math.max(1, Math.ceil(state.waitMs / 1000)));
  const result = await verify();
  if (result === undefined) await reach(() => stub.fail(options));
  return result;
}

async function reach<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw new DependencyError("login throttle", error);
  }
}
