import { DurableObject } from "cloudflare:workers";

export interface Session {
  id: string;
  createdAt: number;
  lastUsedAt: number;
  /** Absolute end: the session dies then, however active. */
  expiresAt: number;
  /** Idle limit: the session dies if unused this long. */
  idleTimeoutMs: number;
  userAgent: string | null;
  ip: string | null;
}

export interface CreateSession {
  absoluteTtlMs: number;
  idleTimeoutMs: number;
  userAgent?: string | null;
  ip?: string | null;
}

type SessionRow = {
  id: string;
  created_at: number;
  last_used_at: number;
  expires_at: number;
  idle_timeout_ms: number;
  user_agent: string | null;
  ip: string | null;
};

const toSession = (row: SessionRow): Session => ({
  id: row.id,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at,
  expiresAt: row.expires_at,
  idleTimeoutMs: row.idle_timeout_ms,
  userAgent: row.user_agent,
  ip: row.ip,
});

/**
 * The sessions of one user (one object per user: `idFromName(userId)`), with idle and absolute
 * lifetimes. Revoking is deleting, so a revoked or expired session can never be revived. An alarm
 * purges expired sessions. The auth issue builds token rotation on top of this.
 */
export class Sessions extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`create table if not exists sessions (
      id text primary key,
      created_at integer not null,
      last_used_at integer not null,
      expires_at integer not null,
      idle_timeout_ms integer not null,
      user_agent text,
      ip text
    )`);
  }

  async create(input: CreateSession, now = Date.now()): Promise<Session> {
    const row: SessionRow = {
      id: crypto.randomUUID(),
      created_at: now,
      last_used_at: now,
      expires_at: now + input.absoluteTtlMs,
      idle_timeout_ms: input.idleTimeoutMs,
      user_agent: input.userAgent ?? null,
      ip: input.ip ?? null,
    };
    this.sql.exec(
      "insert into sessions values (?, ?, ?, ?, ?, ?, ?)",
      row.id,
      row.created_at,
      row.last_used_at,
      row.expires_at,
      row.idle_timeout_ms,
      row.user_agent,
      row.ip,
    );
    await this.scheduleCleanup(now);
    return toSession(row);
  }

  /** The live session, marked as used now; null when unknown, revoked or expired. */
  async touch(id: string, now = Date.now()): Promise<Session | null> {
    const row = this.live(now).find((r) => r.id === id);
    if (!row) return null;
    this.sql.exec("update sessions set last_used_at = ? where id = ?", now, id);
    await this.scheduleCleanup(now);
    return toSession({ ...row, last_used_at: now });
  }

  /** Live sessions, most recently used first. */
  async list(now = Date.now()): Promise<Session[]> {
    return this.live(now)
      .sort((a, b) => b.last_used_at - a.last_used_at)
      .map(toSession);
  }

  async revoke(id: string): Promise<boolean> {
    return this.sql.exec("delete from sessions where id = ?", id).rowsWritten > 0;
  }

  async revokeAll(): Promise<number> {
    return this.sql.exec("delete from sessions").rowsWritten;
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    this.purgeExpired(now);
    await this.scheduleCleanup(now);
  }

  private live(now: number): SessionRow[] {
    this.purgeExpired(now);
    return this.sql.exec<SessionRow>("select * from sessions").toArray();
  }

  private purgeExpired(now: number): void {
    this.sql.exec("delete from sessions where expires_at <= ? or last_used_at + idle_timeout_ms <= ?", now, now);
  }

  /** The alarm fires at the earliest moment a session can expire. */
  private async scheduleCleanup(now: number): Promise<void> {
    const [next] = this.sql
      .exec<{ at: number | null }>("select min(min(expires_at, last_used_at + idle_timeout_ms)) as at from sessions")
      .toArray();
    if (next?.at == null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(Math.max(next.at, now + 1));
  }
}
