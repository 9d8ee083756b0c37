import { serverError } from "../db/errors.ts";
import {
  PROJECT_QUOTA_EXCEEDED_SQLSTATE,
  QUOTA_EXCEEDED_SQLSTATE,
  type QuotaRefusal,
  type StorageUsage,
  UNKNOWN_OWNER_SQLSTATE,
  UNKNOWN_PROJECT_SQLSTATE,
} from "../db/queries/documents.ts";
import { ApiError } from "../pkg/errors/api-error.ts";
import { ownerGone } from "./rules.ts";

/** Per-user limits on what the documents a user owns may hold (OWASP API4:2023). */
export interface StorageQuota {
  /** Bytes of distinct stored objects across the user's documents. */
  bytes: number;
  /** Documents not deleted. */
  documents: number;
  /** Versions across those documents (each upload, new version or restore adds one). */
  versions: number;
}

export type QuotaName = keyof StorageQuota;

/** What a change adds to its owner's usage: an upload adds bytes, a restore a version only. */
export type QuotaNeed = StorageQuota;

/**
 * Whether quotas bind this owner: admins are exempt (they have no quota; the system never owns
 * documents), every other role is limited.
 */
export function quotaApplies(usage: StorageUsage): boolean {
  return usage.role !== "admin";
}

/**
 * The 403 `quota_exceeded` problem for one quota, with its figures as extension members (RFC 9457
 * §3.2): `quota` (`bytes`, `documents` or `versions`), `limit`, `used` and `requested`, in bytes
 * for `bytes` and in counts otherwise.
 */
export function quotaExceeded(quota: QuotaName, figures: { limit: number; used: number; requested: number }) {
  // "1 document", "2 documents", "1 byte": the quota's name is the plural.
  const unit = (count: number) => ` ${count === 1 ? quota.replace(/s$/, "") : quota}`;
  return new ApiError("quota_exceeded", {
    detail: `This would exceed the owner's ${quota} quota: ${figures.used}${unit(figures.used)} used, ${figures.requested}${unit(figures.requested)} more requested, the limit is ${figures.limit}${unit(figures.limit)}.`,
    extensions: { quota, ...figures },
  });
}

/**
 * Throws `quota_exceeded` for the first quota that `need` added to `usage` would pass (documents,
 * then versions, then bytes); nothing for an exempt owner.
 */
export function requireQuota(usage: StorageUsage, quota: StorageQuota, need: QuotaNeed): void {
  if (!quotaApplies(usage)) return;
  for (const name of ["documents", "versions", "bytes"] as const) {
    if (need[name] > 0 && usage[name] + need[name] > quota[name]) {
      throw quotaExceeded(name, { limit: quota[name], used: usage[name], requested: need[name] });
    }
  }
}

/**
 * Bytes an upload may still stream for this owner before it certainly passes the bytes quota
 * (unbounded for an exempt owner): the upload stops there with `quota_exceeded`.
 */
export function bytesLeft(usage: StorageUsage, quota: StorageQuota): number {
  return quotaApplies(usage) ? Math.max(0, quota.bytes - usage.bytes) : Number.POSITIVE_INFINITY;
}

/**
 * The 413 `payload_too_large` problem of an upload (or a move) that would take a project past its
 * storage quota (`PROJECT_QUOTA_BYTES`), with the figures in bytes as extension members (RFC 9457
 * §3.2): `quota` (`projectBytes`), `limit`, `used` and `requested`. Nothing was stored.
 */
export function projectQuotaExceeded(figures: { limit: number; used: number; requested: number }) {
  return new ApiError("payload_too_large", {
    detail: `This would exceed the project's storage quota: ${figures.used} bytes used, ${figures.requested} more requested, the limit is ${figures.limit} bytes. Nothing was stored.`,
    extensions: { quota: "projectBytes", ...figures },
  });
}

/**
 * The API error for `confirmStorage`'s refusal (src/db/queries/documents.ts, SQL function
 * `confirm_storage`), whichever mode's error carries it: 403 `quota_exceeded` with the figures of
 * its DETAIL, the same problem `requireQuota` throws, or 404 when the owner is gone; and for
 * `confirmProjectStorage`'s, 413 `projectQuotaExceeded` or 404 when the project is gone. Undefined
 * for any other error, which the caller throws on as it is.
 */
export function quotaRefusal(error: unknown): ApiError | undefined {
  const server = serverError(error);
  if (server?.code === UNKNOWN_OWNER_SQLSTATE) return ownerGone();
  if (server?.code === UNKNOWN_PROJECT_SQLSTATE) return new ApiError("not_found", { detail: "The project is gone." });
  if (server?.code === PROJECT_QUOTA_EXCEEDED_SQLSTATE && server.detail) {
    const { limit, used, requested } = JSON.parse(server.detail) as QuotaRefusal;
    return projectQuotaExceeded({ limit, used, requested });
  }
  if (server?.code !== QUOTA_EXCEEDED_SQLSTATE || !server.detail) return undefined;
  const { quota, limit, used, requested } = JSON.parse(server.detail) as QuotaRefusal;
  return quotaExceeded(quota, { limit, used, requested });
}
