import { DurableObject } from "cloudflare:workers";

/** Failures allowed before waits begin. */
export const FREE_ATTEMPTS = 5;
/** The first wait; each further failure doubles it, up to the cap. */
export const FIRST_WAIT_MS = 1_000;
export const MAX_WAIT_MS = 15 * 60_000;
/** A day without failures forgets them. */
export const FORGET_AFTER_MS = 24 * 60 * 60_000;

export interface ThrottleState {
  failures: number;
  /** 0 when an attempt may be made now. */
  waitMs: number;
}

type Row = { failures: number; last_failure_at: number; locked_until: number };

/**
 * Failed logins for one key (an account name or a client IP: `idFromName("account:…")`), with
 * waits that grow with every failure beyond the free attempts. Unknown accounts are throttled the
 * same way as known ones, so the throttle tells nothing about which exist.
 */
export class LoginThrottle extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(
      "create table if not exists state (id integer primary key check (id = 1), failures integer not null, last_failure_at integer not null, locked_until integer not null)",
    );
  }

  async check(now = Date.now()): Promise<ThrottleState> {
    const row = this.current(now);
    return { failures: row?.failures ?? 0, waitMs: Math.max(0, (row?.locked_until ?? 0) - now) };
  }

  async fail(now = Date.now()): Promise<ThrottleState> {
    const failures = (this.current(now)?.failures ?? 0) + 1;
    const excess = failures - FREE_ATTEMPTS;
    const wait = excess > 0 ? Math.min(MAX_WAIT_MS, FIRST_WAIT_MS * 2 ** (excess - 1)) : 0;
    this.sql.exec(
      "insert into state (id, failures, last_failure_at, locked_until) values (1, ?, ?, ?) on conflict (id) do update set failures = excluded.failures, last_failure_at = excluded.last_failure_at, locked_until = excluded.locked_until",
      failures,
      now,
      now + wait,
    );
    await this.ctx.storage.setAlarm(now + FORGET_AFTER_MS);
    return { failures, waitMs: wait };
  }

  async succeed(): Promise<void> {
    this.sql.exec("delete from state");
    await this.ctx.storage.deleteAlarm();
  }

  override async alarm(): Promise<void> {
    this.sql.exec("delete from state");
  }

  private current(now: number): Row | undefined {
    const [row] = this.sql
      .exec<Row>("select failures, last_failure_at, locked_until from state where id = 1")
      .toArray();
    if (row && now - row.last_failure_at > FORGET_AFTER_MS) {
      this.sql.exec("delete from state");
      return undefined;
    }
    return row;
  }
}
