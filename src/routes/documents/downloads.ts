import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import type { DocumentVersion } from "../../db/schema/documents.ts";
import {
  evaluatePreconditions,
  httpDate,
  ifRangeHolds,
  parseRange,
  type Validators,
  withLength,
} from "../../documents/download.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import {
  type ByteRange,
  type ObjectBody,
  type ObjectStorage,
  RangeNotSatisfiableError,
} from "../../pkg/storage/storage.ts";

// What the content and thumbnail downloads share: their caching, their preconditions, the state
// a version must be in to be served; and the content's byte ranges (RFC 9110 §14).

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
const REVALIDATED = { "Cache-Control": "private, no-cache" };

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

const rangeNotSatisfiable = (size: number) =>
  new ApiError("range_not_satisfiable", { headers: { "Content-Range": `bytes */${size}` } });

/**
 * The byte range the request asks for and may have (RFC 9110 §14.2), of a representation of `size`
 * bytes: its `Range` (a single range; anything else means the whole), applied only while its
 * `If-Range` holds (§13.1.5: a strong ETag match, or exactly `Last-Modified` when `dateIsStrong`
 * resolves true; asked only then, since it may cost a read). Undefined: send the whole.
 * @throws ApiError `range_not_satisfiable` (416) with `Content-Range: bytes *\/<size>` (§15.5.17)
 */
export async function requestedRange(
  c: Context<AppEnv>,
  validators: Validators,
  size: number,
  dateIsStrong: () => Promise<boolean>,
): Promise<ByteRange | undefined> {
  const ifRange = c.req.header("if-range");
  const rangeHeader = c.req.header("range");
  let rangeApplies = ifRangeHolds(ifRange, validators, false);
  if (!rangeApplies && rangeHeader !== undefined && ifRangeHolds(ifRange, validators, true)) {
    rangeApplies = await dateIsStrong();
  }
  const range = rangeApplies ? parseRange(rangeHeader, size) : undefined;
  if (range === "unsatisfiable") throw rangeNotSatisfiable(size);
  return range;
}

/**
 * The stored object at `key`, the `range` of it or all of it, its body streamed.
 * @throws ApiError `range_not_satisfiable` (416) when the store finds the range past the end;
 *   `service_unavailable` (503) when the object is missing; `DependencyError` (503) when the
 *   store is unreachable
 */
export async function storedContent(
  storage: ObjectStorage,
  key: string,
  range: ByteRange | undefined,
): Promise<ObjectBody> {
  let object: ObjectBody | null;
  try {
    object = await storage.get(key, range ? { range } : {});
  } catch (error) {
    if (error instanceof RangeNotSatisfiableError) throw rangeNotSatisfiable(error.size);
    throw error;
  }
  if (!object)
    throw new ApiError("service_unavailable", { detail: "The stored content is missing; it is being looked into." });
  return object;
}

/**
 * The answer streaming `object` with `headers`: 206 with `Content-Range` for a ranged read (RFC
 * 9110 §15.3.7), else 200 with all `size` bytes; `Content-Length` either way, the body checked
 * against it (`withLength`).
 */
export function contentResponse(
  c: Context<AppEnv>,
  object: ObjectBody,
  size: number,
  headers: Record<string, string>,
): Response {
  if (object.range) {
    const length = object.range.end - object.range.start + 1;
    return c.body(withLength(object.body, length), 206, {
      ...headers,
      "Content-Range": `bytes ${object.range.start}-${object.range.end}/${object.range.total}`,
      "Content-Length": String(length),
    });
  }
  return c.body(withLength(object.body, size), 200, { ...headers, "Content-Length": String(size) });
}
