import { DurableObject } from "cloudflare:workers";

/** Attempts at an account's secret allowed without waiting; the next one waits `FIRST_WAIT_MS`. */
export const FREE_ATTEMPTS = 5;
/**
 * Attempts from one client address (an IPv4 address, an IPv6 /64) allowed without waiting: more
 * than an account's, since a NAT, a carrier-grade NAT or a household's /64 puts many people behind
 * one, and its waits would lock them all out. It still stops one client spraying many accounts.
 */
export const CLIENT_FREE_ATTEMPTS = 20;
/** The first wait in ms (1 s); each further attempt doubles it, up to `MAX_WAIT_MS`. */
export const FIRST_WAIT_MS = 1_000;
/**
 * The longest wait between attempts in ms (15 minutes): long enough to make online guessing
 * hopeless, short enough that a locked-out owner is not locked out for long (ASVS v4.0.3 V2.2.1,
 * soft lockout rather than a permanent one).
 */
export const MAX_WAIT_MS = 15 * 60_000;
/** A day (ms) without attempts forgets them. */
export const FORGET_AFTER_MS = 24 * 60 * 60_000;

/** A bucket's count and wait, as `check` and `fail` report them. */
export interface ThrottleState {
  /** Attempts counted: reserved and not released, since the last success. */
  attempts: number;
  /** 0 when an attempt may be made now; else milliseconds until one may. */
  waitMs: number;
}

/** When: `now` (milliseconds since the epoch; tests pass their own), `freeAttempts` (default `FREE_ATTEMPTS`). */
export interface ThrottleOptions {
  now?: number;
  freeAttempts?: number;
}

/** The answer to `reserve`: either the attempt is counted and may go ahead, or it must wait. */
export type Reservation = { allowed: true; attempts: number } | { allowed: false; waitMs: number };

type Row = { attempts: number; last_attempt_at: number };

/** How long the attempt after `attempts` counted ones must wait after the last of them, in ms. */
export function waitAfter(attempts: number, freeAttempts = FREE_ATTEMPTS): number {
  if (attempts < freeAttempts) return 0;
  return Math.min(MAX_WAIT_MS, FIRST_WAIT_MS * 2 ** (attempts - freeAttempts));
}

/**
 * Guesses at one secret, for one bucket: an account (`idFromName("account:<user id>")`), the
 * second factor of an account, or a client address (`ip:<address or IPv6 /64>`). Check and count
 * are one step (`reserve`): an attempt is counted as failed *before* the secret is checked, and
 * `release` or `succeed` take it back once the secret proved right. A Durable Object runs one call
 * at a time and its SQLite calls are synchronous, so concurrent guesses cannot all pass a check
 * made before any of them was counted: of any number sent at once, exactly the free attempts are
 * checked. Unknown accounts get buckets that behave the same, so the throttle tells nothing about
 * which exist (OWASP API2:2023, ASVS v4.0.3 V2.2.1).
 */
export class LoginThrottle extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    // The first version stored failures and a lock time; the counted attempts replace both.
    this.sql.exec("drop table if exists state");
    this.sql.exec(
      "create table if not exists attempts (id integer primary key check (id = 1), attempts integer not null, last_attempt_at integer not null)",
    );
  }

  /** The attempts counted and the wait before the next one, without counting one. */
  async check(options: ThrottleOptions = {}): Promise<ThrottleState> {
    const { now = Date.now(), freeAttempts = FREE_ATTEMPTS } = options;
    const row = this.current(now);
    const attempts = row?.attempts ?? 0;
    const waitMs = row ? Math.max(0, row.last_attempt_at + waitAfter(attempts, freeAttempts) - now) : 0;
    return { attempts, waitMs };
  }

  /**
   * Counts one attempt if none must wait now (the attempt then goes ahead and is a failure until
   * `release` or `succeed` say otherwise); otherwise refuses it, counting nothing.
   */
  async reserve(options: ThrottleOptions = {}): Promise<Reservation> {
    const { waitMs } = await this.check(options);
    if (waitMs > 0) return { allowed: false, waitMs };
    const { attempts } = await this.fail(options);
    return { allowed: true, attempts };
  }

  /**
   * Counts one failed attempt after the fact, whatever the wait: for secrets too long to guess
   * (refresh tokens), whose checks need no reservation (see `throttledCheck`).
   */
  async fail(options: ThrottleOptions = {}): Promise<ThrottleState> {
    const { now = Date.now(), freeAttempts = FREE_ATTEMPTS } = options;
    const attempts = (await this.check(options)).attempts + 1;
    this.sql.exec(
      "insert into attempts (id, attempts, last_attempt_at) values (1, ?, ?) on conflict (id) do update set attempts = excluded.attempts, last_attempt_at = excluded.last_attempt_at",
      attempts,
      now,
    );
    await this.ctx.storage.setAlarm(now + FORGET_AFTER_MS);
    return { attempts, waitMs: waitAfter(attempts, freeAttempts) };
  }

  /** Takes back one reserved attempt that was not a failure (it went unused, or it succeeded). */
  async release(): Promise<void> {
    this.sql.exec("update attempts set attempts = max(0, attempts - 1) where id = 1");
  }

  /** The secret was right: every counted attempt is forgotten. */
  async succeed(): Promise<void> {
    this.sql.exec("delete from attempts");
    await this.ctx.storage.deleteAlarm();
  }

  override async alarm(): Promise<void> {
    this.sql.exec("delete from attempts");
  }

  private current(now: number): Row | undefined {
    const [row] = this.sql.exec<Row>("select attempts, last_attempt_at from attempts where id = 1").toArray();
    if (row && now - row.last_attempt_at > FORGET_AFTER_MS) {
      this.sql.exec("delete from attempts");
      return undefined;
    }
    return row;
  }
}
