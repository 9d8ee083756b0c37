import { DurableObject } from "cloudflare:workers";

/** One window of a policy: at most `limit` requests in any `windowMs` span. */
export interface RateWindow {
  limit: number;
  windowMs: number;
}

export interface WindowState extends RateWindow {
  remaining: number;
  /** Milliseconds until the oldest counted request leaves this window. */
  resetMs: number;
}

/** A policy: every window must have room for a request to be admitted. */
export type RatePolicy = readonly [RateWindow, ...RateWindow[]];

export interface RateDecision {
  allowed: boolean;
  /** When refused: how long until every window admits one more request. */
  retryAfterMs: number;
  windows: WindowState[];
}

/**
 * Sliding-window rate limiting for one key (one object per key: `idFromName(key)`, never one
 * global object). Every admitted request is logged with its time, so the count over any window is
 * exact, and several windows (burst + sustained) are checked together. A Durable Object handles
 * one call at a time and SQLite calls are synchronous, so concurrent requests cannot both take the
 * last slot.
 */
export class RateLimiter extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.createSchema();
  }

  /** Counts one request against all `windows` if every one of them has room; otherwise refuses. */
  async hit(windows: RatePolicy, now = Date.now()): Promise<RateDecision> {
    const longest = Math.max(...windows.map((w) => w.windowMs));
    this.sql.exec("delete from hits where at <= ?", now - longest);

    const states = windows.map((w) => this.state(w, now));
    const allowed = states.every((s) => s.remaining > 0);
    if (allowed) {
      this.sql.exec("insert into hits (at) values (?)", now);
      for (const s of states) s.remaining -= 1;
      // Once every window has passed, the log is empty: let the alarm drop it.
      await this.ctx.storage.setAlarm(now + longest + 1);
    }
    const retryAfterMs = allowed ? 0 : Math.max(...states.filter((s) => s.remaining <= 0).map((s) => s.resetMs));
    return { allowed, retryAfterMs, windows: states };
  }

  /** How many requests are counted in each window now, without counting one. */
  async peek(windows: RatePolicy, now = Date.now()): Promise<WindowState[]> {
    return windows.map((w) => this.state(w, now));
  }

  /** Fires one longest-window after the last admitted hit: every logged hit has expired. */
  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
    this.createSchema();
  }

  private createSchema(): void {
    this.sql.exec("create table if not exists hits (at integer not null)");
    this.sql.exec("create index if not exists hits_at on hits (at)");
  }

  private state(window: RateWindow, now: number): WindowState {
    const since = now - window.windowMs;
    const [row] = this.sql
      .exec<{ used: number; oldest: number | null }>(
        "select count(*) as used, min(at) as oldest from hits where at > ?",
        since,
      )
      .toArray();
    const used = row?.used ?? 0;
    // When full, the slot frees up when the (used - limit + 1)-th oldest hit leaves the window.
    let resetMs = row?.oldest != null ? row.oldest + window.windowMs - now : 0;
    if (used >= window.limit) {
      const [freeing] = this.sql
        .exec<{ at: number }>(
          "select at from hits where at > ? order by at limit 1 offset ?",
          since,
          used - window.limit,
        )
        .toArray();
      if (freeing) resetMs = freeing.at + window.windowMs - now;
    }
    return { ...window, remaining: Math.max(0, window.limit - used), resetMs: Math.max(0, resetMs) };
  }
}
