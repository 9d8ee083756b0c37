import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import type { DocumentVersion } from "../../db/schema/documents.ts";
import { evaluatePreconditions, httpDate, type Validators } from "../../documents/download.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";

// What the content and thumbnail downloads share: their caching, their preconditions, the state
// a version must be in to be served.

/**
 * Caching of a version's content, its conversions and its thumbnail (RFC 9111). Their bytes never
 * change under their ETag, yet they are never fresh: access can be revoked and a version
 * quarantined after it was served, so each use is revalidated (`no-cache`, §5.2.2.4), which is
 * the access check, and only the caller's own cache keeps them (`private`, §5.2.2.7). A 304 then
 * costs the access check and no object-store request. `immutable` (RFC 8246) would only matter
 * while a response is fresh, so it is not sent. No `Vary` beyond CORS's `Origin`: the URL (version,
 * `format`, `disposition`) selects the representation, never `Accept` (RFC 9110 §12.5.5), and
 * `Authorization` only permits it, which every revalidation checks.
 */
export const REVALIDATED = { "Cache-Control": "private, no-cache" };

/**
 * The headers every download response carries, the 304 included (RFC 9110 §15.4.5): the caching
 * (`REVALIDATED`), `ETag` and `Last-Modified` (an IMF-fixdate).
 */
export const downloadHeaders = (validators: Validators): Record<string, string> => ({
  ...REVALIDATED,
  ETag: validators.etag,
  "Last-Modified": httpDate(validators.lastModified),
});

/**
 * The preconditions of a download (RFC 9110 §13.2.2), after access and state were checked: a
 * failing If-Match or If-Unmodified-Since throws 412; a matching If-None-Match or an unchanged
 * If-Modified-Since returns the 304 to send, with the validators and caching a 200 would carry
 * (§15.4.5); otherwise undefined.
 */
export function downloadPreconditions(c: Context<AppEnv>, validators: Validators): Response | undefined {
  const outcome = evaluatePreconditions(
    {
      ifMatch: c.req.header("if-match"),
      ifNoneMatch: c.req.header("if-none-match"),
      ifModifiedSince: c.req.header("if-modified-since"),
      ifUnmodifiedSince: c.req.header("if-unmodified-since"),
    },
    validators,
  );
  if (outcome === "failed") {
    throw new ApiError("precondition_failed", {
      detail: `The current representation (ETag ${validators.etag}, Last-Modified ${httpDate(validators.lastModified)}) does not satisfy If-Match or If-Unmodified-Since.`,
    });
  }
  if (outcome === "not_modified") return c.body(null, 304, downloadHeaders(validators));
  return undefined;
}

/**
 * Throws 409 `conflict` unless the version's content may be served: never when quarantined
 * (malware), and only once scanned clean or with scanning off (`skipped`).
 */
export function servable(version: DocumentVersion): void {
  if (version.status === "quarantined") {
    throw new ApiError("conflict", { detail: "This version was quarantined: it contains malware and is not served." });
  }
  if (version.scanResult !== "clean" && version.scanResult !== "skipped") {
    throw new ApiError("conflict", { detail: `This version is ${version.status} and has not been scanned yet.` });
  }
}
