/** One window of a policy: at most `limit` requests in any `windowMs` span (ms). */
export interface RateWindow {
  limit: number;
  windowMs: number;
}

/**
 * A window as it stands: what the `RateLimit` and `RateLimit-Policy` response headers report
 * (draft-ietf-httpapi-ratelimit-headers).
 */
export interface WindowState extends RateWindow {
  /** Requests this window still admits now (0 when full). */
  remaining: number;
  /** Milliseconds until the oldest counted request leaves this window. */
  resetMs: number;
}

/** A policy: every window must have room for a request to be admitted. */
export type RatePolicy = readonly [RateWindow, ...RateWindow[]];

/** The outcome of counting one request: admitted or not, and every window's state after it. */
export interface RateDecision {
  allowed: boolean;
  /** When refused: ms until every window admits one more request (the 429's `Retry-After`); 0 when admitted. */
  retryAfterMs: number;
  windows: WindowState[];
}

/**
 * An exact sliding-window log in a Durable Object's SQLite storage, shared by the RateLimiter
 * (one key per object) and the Sessions object (a user's policies, one key each). Every admitted
 * request is logged with its time (epoch ms), so the count over any window is exact, and several
 * windows (burst + sustained) are checked together. Each method is synchronous: called from a
 * Durable Object, which handles one event at a time, no other call runs between the count and
 * the write, so concurrent requests cannot both take the last slot. A row carries when it stops
 * mattering (`expires_at`: its time plus the policy's longest window), so `purge` needs no policy.
 */
export class SlidingWindowLog {
  private readonly sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.sql = sql;
    this.createSchema();
  }

  /** Creates the log's table (again, after `deleteAll`). */
  createSchema(): void {
    this.sql.exec(
      "create table if not exists rate_hits (key text not null, at integer not null, expires_at integer not null)",
    );
    this.sql.exec("create index if not exists rate_hits_key_at on rate_hits (key, at)");
    this.sql.exec("create index if not exists rate_hits_expires_at on rate_hits (expires_at)");
  }

  /** Counts one request of `key` against all `windows` if every one of them has room; otherwise refuses. */
  hit(key: string, windows: RatePolicy, now: number): RateDecision {
    this.purge(now);
    const states = windows.map((w) => this.state(key, w, now));
    const allowed = states.every((s) => s.remaining > 0);
    if (allowed) {
      this.sql.exec(
        "insert into rate_hits (key, at, expires_at) values (?, ?, ?)",
        key,
        now,
        now + longestWindowMs(windows),
      );
      for (const s of states) s.remaining -= 1;
    }
    const retryAfterMs = allowed ? 0 : Math.max(...states.filter((s) => s.remaining <= 0).map((s) => s.resetMs));
    return { allowed, retryAfterMs, windows: states };
  }

  /** How many requests of `key` are counted in each window now, without counting one. */
  peek(key: string, windows: RatePolicy, now: number): WindowState[] {
    return windows.map((w) => this.state(key, w, now));
  }

  /** Drops the hits no window counts any more. */
  purge(now: number): void {
    this.sql.exec("delete from rate_hits where expires_at <= ?", now);
  }

  /** When the last logged hit stops mattering (epoch ms), or null when the log is empty. */
  lastExpiry(): number | null {
    const [row] = this.sql.exec<{ at: number | null }>("select max(expires_at) as at from rate_hits").toArray();
    return row?.at ?? null;
  }

  private state(key: string, window: RateWindow, now: number): WindowState {
    const since = now - window.windowMs;
    const [row] = this.sql
      .exec<{ used: number; oldest: number | null }>(
        "select count(*) as used, min(at) as oldest from rate_hits where key = ? and at > ?",
        key,
        since,
      )
      .toArray();
    const used = row?.used ?? 0;
    // When full, the slot frees up when the (used - limit + 1)-th oldest hit leaves the window.
    let resetMs = row?.oldest != null ? row.oldest + window.windowMs - now : 0;
    if (used >= window.limit) {
      const [freeing] = this.sql
        .exec<{ at: number }>(
          "select at from rate_hits where key = ? and at > ? order by at limit 1 offset ?",
          key,
          since,
          used - window.limit,
        )
        .toArray();
      if (freeing) resetMs = freeing.at + window.windowMs - now;
    }
    return { ...window, remaining: Math.max(0, window.limit - used), resetMs: Math.max(0, resetMs) };
  }
}

/** The longest window of a policy (ms): how long a hit counted under it matters. */
export function longestWindowMs(windows: RatePolicy): number {
  return Math.max(...windows.map((w) => w.windowMs));
}
