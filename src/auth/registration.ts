import { asActor, SYSTEM } from "../db/actor.ts";
import type { Database } from "../db/client.ts";
import { uniqueViolation } from "../db/errors.ts";
import { type RequestOrigin, recordSecurityEvent } from "../db/queries/audit.ts";
import { findUserByEmail, insertUser, type PublicUser } from "../db/queries/users.ts";
import { enqueueMail } from "../notifications/mail.ts";
import type { Cache } from "../pkg/cache/cache.ts";
import { sha256Hex } from "../pkg/crypto/digest.ts";
import type { Logger } from "../pkg/logger/logger.ts";
import type { NotificationPublisher } from "../pkg/queue/events.ts";
import { accountLinks, type LifecycleDeps, sendEmailVerification } from "./account-lifecycle.ts";
import { passwordHasher } from "./auth-service.ts";

/** What registering needs from the request. */
export interface RegistrationDeps {
  db: Database;
  pbkdf2Iterations: number;
  logger: Logger;
  requestId: string;
  /** The `notifications` queue, where the notice to an existing account's owner goes. */
  notifications: NotificationPublisher;
  /** Redis, which keeps an address from being sent more than one notice an hour. */
  cache: Cache;
  /** Runs work after the answer, within the request's lifetime (`Services.background`). */
  background(name: string, task: () => Promise<unknown>): void;
  /** Where the request came from, for the security event of a new account. */
  origin: RequestOrigin;
  /** What mailing the new account its verification link needs (after the answer). */
  verification: Pick<LifecycleDeps, "http" | "notifications" | "appUrl" | "requestId" | "origin">;
}

export interface Registration {
  email: string;
  username: string;
  password: string;
  displayName?: string | null | undefined;
}

const TAKEN: Record<string, "email" | "username"> = { users_email_key: "email", users_username_key: "username" };

/**
 * The field whose unique index (`users_email_key`, `users_username_key`: unique
 * case-insensitively) refused a write of a user, or undefined when `error` is anything else.
 */
export const takenField = (error: unknown): "email" | "username" | undefined => TAKEN[uniqueViolation(error) ?? ""];

/** The most registration notices one address receives: one per this many seconds. */
export const NOTICE_INTERVAL_SECONDS = 3600;

/** Redis's key of the notices sent to `email` (by its SHA-256: no address is stored). */
const noticeKey = async (email: string) => `mail:registration-attempt:${await sha256Hex(email)}`;

/**
 * Whether no notice went to `email` within {@link NOTICE_INTERVAL_SECONDS}, marking it sent (one
 * Redis `SET … NX EX`): registrations from many client addresses must not become a way to flood
 * someone's mailbox. Without Redis, or when it fails, the notice goes (the `auth` rate limit
 * still bounds each client).
 */
async function firstNoticeWithinInterval(deps: RegistrationDeps, email: string): Promise<boolean> {
  if (!deps.cache.redis) return true;
  try {
    return (await deps.cache.redis.set(await noticeKey(email), 1, { nx: true, ex: NOTICE_INTERVAL_SECONDS })) !== null;
  } catch (error) {
    deps.logger.warn("registration notice cap unavailable; the notice goes", { error });
    return true;
  }
}

/**
 * Tells the address of a refused registration why nothing came, at most once per
 * {@link NOTICE_INTERVAL_SECONDS}: the owner of an account with that email that someone tried to
 * register with it (`account.registration-attempt`); an address no account has that the username
 * was taken (`account.username-taken`), so the registrant does not wait for a verification mail.
 * When the email itself was refused as taken, its owner is known without a query; when the
 * username was (Postgres names one violated index, so the email may be taken too), the account
 * with that email is looked up first.
 */
async function noticeToOwner(
  deps: RegistrationDeps,
  taken: { field: "email" | "username"; email: string; at: Date },
): Promise<void> {
  const owner =
    taken.field === "email"
      ? taken.email
      : (await asActor(deps.db, SYSTEM, (tx) => findUserByEmail(tx, { email: taken.email })))?.email;
  const to = owner ?? taken.email;
  if (!(await firstNoticeWithinInterval(deps, to))) {
    deps.logger.info("registration notice not sent: one went to this address within the interval");
    return;
  }
  const attemptedAt = taken.at.toISOString();
  try {
    await enqueueMail(
      deps.notifications,
      owner
        ? {
            requestId: deps.requestId,
            to: owner,
            template: "account.registration-attempt",
            params: { email: owner, attemptedAt, resetUrl: accountLinks.resetPassword(deps.verification.appUrl) },
          }
        : { requestId: deps.requestId, to, template: "account.username-taken", params: { attemptedAt } },
    );
  } catch (error) {
    // Not queued: the next attempt may send one.
    await deps.cache.delete(await noticeKey(to)).catch(() => {});
    throw error;
  }
}

/**
 * Registers an account, answering alike whether or not the email or username is taken (OWASP
 * Authentication Cheat Sheet, "Account creation"; ASVS v4.0.3 V2.2 and V3 against account
 * enumeration). Either way the password is hashed and an insert is tried, so both take the same
 * work on the request's path; when the unique index refuses it, nothing is created and the caller
 * receives a stand-in shaped like a new account (a random id no account has, the values sent, the
 * defaults) that can neither sign in nor be found. The address is then told by mail
 * (`noticeToOwner`: its account's owner, or the registrant that the username was taken), queued after the answer
 * (`deps.background`), so the answer neither waits for it nor shows it; the attempt is logged,
 * naming the field, never the value. A new account's `user.registered` is recorded in its
 * transaction (one statement more, run whether or not the email is taken).
 *
 * @returns the new account, or the stand-in when the email or username is taken.
 * @throws `DependencyError` (503) when the database is unreachable; any other database error.
 */
export async function registerAccount(deps: RegistrationDeps, input: Registration): Promise<PublicUser> {
  const values = {
    email: input.email.toLowerCase(),
    username: input.username,
    passwordHash: await passwordHasher(deps.pbkdf2Iterations).hash(input.password),
    displayName: input.displayName ?? null,
  };
  try {
    const id = crypto.randomUUID();
    const user = await asActor(deps.db, SYSTEM, async (tx) => {
      // Recorded before the insert, which a taken email or username makes fail (rolling the event
      // back with it): both outcomes then run the same statements, so timing tells them apart no more
      // than the answer does.
      const event = { actorId: id, targetUserId: id, origin: deps.origin, details: { method: "password" } };
      await recordSecurityEvent(tx, { action: "user.registered", ...event });
      return insertUser(tx, { ...values, id });
    });
    // Like the notice of the other path, after the answer: both answers take the same work.
    deps.background("verification mail", () => sendEmailVerification(deps.verification, user.id));
    return user;
  } catch (error) {
    const field = takenField(error);
    if (!field) throw error;
    deps.logger.info("registration for an existing account: nothing created, answered as if it were", { field });
    const now = new Date();
    deps.background("registration notice", () => noticeToOwner(deps, { field, email: values.email, at: now }));
    return {
      id: crypto.randomUUID(),
      email: values.email,
      username: values.username,
      role: "user",
      status: "active",
      emailVerified: false,
      displayName: values.displayName,
      bio: null,
      avatarUrl: null,
      locale: null,
      timezone: null,
      preferences: {},
      lastLoginAt: null,
      passwordChangeRequired: false,
      deletionRequestedAt: null,
      createdAt: now,
      updatedAt: now,
    };
  }
}
