import { DurableObject } from "cloudflare:workers";
import {
  longestWindowMs,
  type RateDecision,
  type RatePolicy,
  SlidingWindowLog,
  type WindowState,
} from "./sliding-window.ts";

export type { RateDecision, RatePolicy, RateWindow, WindowState } from "./sliding-window.ts";

/** The one key of this object's log: the object itself is per key. */
const KEY = "";

/**
 * Sliding-window rate limiting for one key (one object per key: `idFromName(key)`, never one
 * global object): the requests the gateway counts by client address. A signed-in user's requests
 * are counted in their SESSIONS object instead, in the same call that checks their session (see
 * `Sessions.authorize`); both use `SlidingWindowLog`, exact under concurrency.
 */
export class RateLimiter extends DurableObject<Env> {
  private readonly log: SlidingWindowLog;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    this.log = new SlidingWindowLog(sql);
    // Objects written before the shared log kept their hits in `hits (at)`: carry them over once.
    // Their longest window is unknown here; the alarm (set at every hit) clears them anyway.
    const legacy = sql.exec("select 1 from sqlite_master where type = 'table' and name = 'hits'").toArray();
    if (legacy.length > 0) {
      sql.exec("insert into rate_hits (key, at, expires_at) select ?, at, at + ? from hits", KEY, 86_400_000);
      sql.exec("drop table hits");
    }
  }

  /** Counts one request against all `windows` if every one of them has room; otherwise refuses. */
  async hit(windows: RatePolicy, now = Date.now()): Promise<RateDecision> {
    const decision = this.log.hit(KEY, windows, now);
    // Once every window has passed, the log is empty: let the alarm drop it.
    if (decision.allowed) await this.ctx.storage.setAlarm(now + longestWindowMs(windows) + 1);
    return decision;
  }

  /** How many requests are counted in each window now, without counting one. */
  async peek(windows: RatePolicy, now = Date.now()): Promise<WindowState[]> {
    return this.log.peek(KEY, windows, now);
  }

  /** Fires one longest-window after the last admitted hit: every logged hit has expired. */
  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
    this.log.createSchema();
  }
}
