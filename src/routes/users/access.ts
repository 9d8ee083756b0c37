import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import type { AccountDeps } from "../../auth/accounts.ts";
import { staffLifetimes } from "../../auth/auth-service.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { requestOrigin } from "../request-origin.ts";

/**
 * What an account change needs from the request (src/auth/accounts.ts): Postgres and the SESSIONS
 * objects, the caller as row-level security sees them, and as their session knows them — the
 * grantor of the grant rules' first check, before any work (role and permissions as of the
 * request's authentication; the writing transaction reads them again), and where the request came
 * from (the changes' security events).
 */
export function accountDeps(c: Context<AppEnv>): AccountDeps {
  const { userId, role, permissions, actor } = callerOf(c);
  const { database, config } = c.get("services");
  return {
    database,
    sessions: c.env.SESSIONS,
    actor,
    grantor: { userId, role, permissions },
    origin: requestOrigin(c),
    staffLifetimes: staffLifetimes(config),
  };
}

/** The grant rules (src/auth/grant-rules.ts), as every delegated route states them. */
export const GRANT_RULES =
  " Grant rules (403 otherwise, the problem's `grantRule` naming the rule broken: `self`, `held`, `admins`, `verification`): never on your own account; only an admin changes an admin's account or grants `admin`; a permission only by someone who holds it; an account's credentials (email, temporary password, second factor, reset link) only by someone who holds every permission it holds.";
