import type { z } from "@hono/zod-openapi";
import { fieldErrors } from "../../app/error-handler.ts";
import { oauthError } from "../../pkg/errors/api-error.ts";

/** RFC 6749 §5.1: a response holding tokens or credentials must not be cached (`Pragma` for HTTP/1.0 caches). */
export const NO_STORE = { "Cache-Control": "no-store", Pragma: "no-cache" };

/**
 * The answer to a login whose account has MFA on (403 `mfa_required`, not cached): finish it at
 * the token endpoint with a code and this token (`mfa_token` member).
 */
export function mfaRequired(mfaToken: string) {
  return oauthError("mfa_required", "mfa_required", "A second factor is required: send a code with this mfa_token.", {
    extensions: { mfa_token: mfaToken },
    headers: NO_STORE,
  });
}

/**
 * Validation hook of the token endpoints: failures are reported with OAuth codes (RFC 6749 §5.2)
 * as well as field errors. A `grant_type` given but not one we serve is `unsupported_grant_type`;
 * every other failure `invalid_request`.
 * @throws ApiError `validation_failed` (400) with `error`, `error_description` and `errors`
 */
export function oauthValidationHook(
  result: { success: true } | { success: false; error: z.ZodError; target: string; data?: unknown },
): undefined {
  if (result.success) return undefined;
  const errors = fieldErrors(result.error, result.target);
  const given = (result.data as { grant_type?: unknown } | undefined)?.grant_type;
  const unsupported = typeof given === "string" && given !== "" && errors.some((e) => e.pointer === "/grant_type");
  throw oauthError(
    "validation_failed",
    unsupported ? "unsupported_grant_type" : "invalid_request",
    errors.map((e) => `${e.pointer}: ${e.message}`).join("; "),
    { errors },
  );
}
