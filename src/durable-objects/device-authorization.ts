import { DurableObject } from "cloudflare:workers";
import { constantTimeEqualText } from "../pkg/crypto/constant-time.ts";
import { sha256Hex } from "../pkg/crypto/digest.ts";
import type { Principal } from "./sessions.ts";

/** RFC 8628 §3.5: `slow_down` adds 5 s to the polling interval, for that and every later request. */
export const SLOW_DOWN_STEP_SECONDS = 5;

/** What the device authorization request asked for (RFC 8628 §3.1). */
export interface DeviceRequest {
  clientId: string;
  /** Scopes asked for, space-separated (granted ∩ held at approval). */
  scope: string;
  /** SHA-256 (hex) of the device code's secret. */
  deviceSecretHash: string;
  /** Epoch ms. */
  expiresAt: number;
  /** Seconds between polls. */
  intervalSeconds: number;
}

/** The session the user's approval started, handed to the device at its next poll (once). */
export interface DeviceApproval {
  userId: string;
  sessionId: string;
  /** The session's first refresh secret; kept until the device polls, at most until the code expires. */
  secret: string;
  /** Granted scopes, space-separated. */
  scope: string;
  principal: Principal;
  /** Epoch seconds. */
  authTime: number;
  /** How the user signed in (OpenID Connect Core §2 `amr`, RFC 8176 values), for the ID token. */
  amr: string[];
}

/**
 * A user who signed in on the verification page and is being asked to consent (RFC 8628 §5.4:
 * the client and scopes are shown before anything is granted). Opaque to the object.
 */
export type DeviceSignIn = Record<string, unknown>;

/** What a poll of the token endpoint gets (RFC 8628 §3.5). */
export type DevicePoll =
  | { outcome: "approved"; approval: DeviceApproval }
  | { outcome: "authorization_pending" | "access_denied" | "expired_token" | "invalid" }
  | { outcome: "slow_down"; intervalSeconds: number };

type Row = {
  client_id: string;
  scope: string;
  device_hash: string;
  expires_at: number;
  interval_s: number;
  last_poll_at: number | null;
  status: "pending" | "approved" | "denied";
  approval: string | null;
};

/**
 * One device authorization (RFC 8628), named by its user code (`idFromName(userCode)`): what the
 * device asked, the user's decision, and the polling it sees (`authorization_pending`,
 * `slow_down` when it polls faster than its interval, `expired_token`, `access_denied`, then the
 * tokens' session once). Each method reads and writes without an `await` in between, so
 * concurrent polls and approvals cannot interleave. An alarm deletes it all after expiry.
 */
export class DeviceAuthorization extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`create table if not exists device (
      id integer primary key check (id = 1),
      client_id text not null,
      scope text not null,
      device_hash text not null,
      expires_at integer not null,
      interval_s integer not null,
      last_poll_at integer,
      status text not null,
      approval text
    )`);
    // A table of its own, so that objects created before it keep their `device` table as it was.
    this.sql.exec(`create table if not exists consent (
      id integer primary key check (id = 1),
      consent_hash text not null,
      sign_in text not null
    )`);
  }

  /** Records a new request; false when this user code is already taken by a live one (pick another). */
  async start(request: DeviceRequest, now = Date.now()): Promise<boolean> {
    const current = this.row(now);
    if (current) return false;
    this.sql.exec("delete from device");
    this.sql.exec(
      "insert into device (id, client_id, scope, device_hash, expires_at, interval_s, status) values (1, ?, ?, ?, ?, ?, 'pending')",
      request.clientId,
      request.scope,
      request.deviceSecretHash,
      request.expiresAt,
      request.intervalSeconds,
    );
    await this.ctx.storage.setAlarm(request.expiresAt + 60_000);
    return true;
  }

  /** The pending request behind this user code (the client and scope it asks for), or null. */
  async pending(now = Date.now()): Promise<{ clientId: string; scope: string } | null> {
    const row = this.row(now);
    return row?.status === "pending" ? { clientId: row.client_id, scope: row.scope } : null;
  }

  /**
   * A user signed in and is shown the consent page: `signIn` is kept for the approval, which must
   * present the secret hashed here (`takeConsent`). Replaces an earlier one. False when the
   * request is no longer pending.
   */
  async offerConsent(consentHash: string, signIn: DeviceSignIn, now = Date.now()): Promise<boolean> {
    if (this.row(now)?.status !== "pending") return false;
    this.sql.exec("delete from consent");
    this.sql.exec(
      "insert into consent (id, consent_hash, sign_in) values (1, ?, ?)",
      consentHash,
      JSON.stringify(signIn),
    );
    return true;
  }

  /**
   * The sign-in `offerConsent` kept, once, for the consent secret it was offered with; null when
   * the secret is wrong or the request is no longer pending.
   */
  async takeConsent(consentSecret: string, now = Date.now()): Promise<DeviceSignIn | null> {
    const presented = await sha256Hex(consentSecret);
    // From here on: no await.
    const [consent] = this.sql.exec<{ consent_hash: string; sign_in: string }>("select * from consent").toArray();
    if (!consent || this.row(now)?.status !== "pending" || !constantTimeEqualText(presented, consent.consent_hash)) {
      return null;
    }
    this.sql.exec("delete from consent");
    return JSON.parse(consent.sign_in) as DeviceSignIn;
  }

  /** The user's approval; false when the request is gone, expired or already decided. */
  async approve(approval: DeviceApproval, now = Date.now()): Promise<boolean> {
    const row = this.row(now);
    if (row?.status !== "pending") return false;
    this.sql.exec("update device set status = 'approved', approval = ? where id = 1", JSON.stringify(approval));
    return true;
  }

  /** The user's refusal; false when the request is gone, expired or already decided. */
  async deny(now = Date.now()): Promise<boolean> {
    const row = this.row(now);
    if (row?.status !== "pending") return false;
    this.sql.exec("update device set status = 'denied' where id = 1");
    return true;
  }

  /**
   * A poll by the device (RFC 8628 §3.4–§3.5), with its device code's secret and client: faster
   * than the interval is `slow_down` (and the interval grows by 5 s); an approval is handed over
   * once (the record is then deleted, so a second poll is `invalid`).
   */
  async poll(deviceSecret: string, clientId: string, now = Date.now()): Promise<DevicePoll> {
    const presented = await sha256Hex(deviceSecret);
    // From here on: no await.
    const [row] = this.sql.exec<Row>("select * from device where id = 1").toArray();
    if (!row || !constantTimeEqualText(presented, row.device_hash) || row.client_id !== clientId) {
      return { outcome: "invalid" };
    }
    if (now >= row.expires_at) return { outcome: "expired_token" };
    if (row.status === "denied") return { outcome: "access_denied" };
    if (row.status === "approved" && row.approval) {
      this.sql.exec("delete from device");
      this.sql.exec("delete from consent");
      return { outcome: "approved", approval: JSON.parse(row.approval) as DeviceApproval };
    }
    const tooSoon = row.last_poll_at !== null && now - row.last_poll_at < row.interval_s * 1000;
    const interval = tooSoon ? row.interval_s + SLOW_DOWN_STEP_SECONDS : row.interval_s;
    this.sql.exec("update device set last_poll_at = ?, interval_s = ? where id = 1", now, interval);
    return tooSoon ? { outcome: "slow_down", intervalSeconds: interval } : { outcome: "authorization_pending" };
  }

  /**
   * After expiry: the record goes, and a session approved but never handed over (the device did
   * not poll in time) is ended in the user's SESSIONS object, so no live session is left that no
   * one holds. Throwing leaves the record for the alarm's retry.
   */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const [row] = this.sql.exec<Row>("select * from device where expires_at <= ?", now).toArray();
    if (row?.status === "approved" && row.approval) {
      const { userId, sessionId } = JSON.parse(row.approval) as DeviceApproval;
      await this.env.SESSIONS.get(this.env.SESSIONS.idFromName(userId)).revoke(sessionId);
    }
    this.sql.exec("delete from device where expires_at <= ?", now);
    this.sql.exec("delete from consent");
  }

  /** The live request (not expired), or undefined. */
  private row(now: number): Row | undefined {
    const [row] = this.sql.exec<Row>("select * from device where id = 1 and expires_at > ?", now).toArray();
    return row;
  }
}
