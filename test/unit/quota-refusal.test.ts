import { NeonDbError } from "@neondatabase/serverless";
import { describe, expect, it } from "vitest";
import { quotaRefusal } from "../../src/documents/quota.ts";
import { ApiError } from "../../src/pkg/errors/api-error.ts";

/** A server error as the HTTP mode reports it: the SQLSTATE as `code`, Postgres's DETAIL. */
function serverError(code: string, detail?: string): NeonDbError {
  const error = new NeonDbError("raised by confirm_storage");
  error.code = code;
  error.detail = detail;
  return error;
}

describe("quotaRefusal (confirm_storage's errors, migration 0023)", () => {
  it("turns Q0001 into the 403 quota_exceeded with the figures of its DETAIL", () => {
    const detail = JSON.stringify({ quota: "bytes", limit: 1000, used: 600, requested: 600 });
    const refusal = quotaRefusal(serverError("Q0001", detail));
    expect(refusal).toBeInstanceOf(ApiError);
    expect(refusal?.code).toBe("quota_exceeded");
    expect(refusal?.extensions).toEqual({ quota: "bytes", limit: 1000, used: 600, requested: 600 });
  });

  it("names one of a thing in the singular in its detail", () => {
    const detail = JSON.stringify({ quota: "documents", limit: 5, used: 5, requested: 1 });
    expect(quotaRefusal(serverError("Q0001", detail))?.detail).toBe(
      "This would exceed the owner's documents quota: 5 documents used, 1 document more requested, the limit is 5 documents.",
    );
  });

  it("turns Q0002 into the 404 of an owner who is gone", () => {
    expect(quotaRefusal(serverError("Q0002"))?.code).toBe("not_found");
  });

  it("leaves every other error to the caller", () => {
    expect(quotaRefusal(serverError("23505"))).toBeUndefined();
    expect(quotaRefusal(serverError("Q0001"))).toBeUndefined();
    expect(quotaRefusal(new Error("not the server's"))).toBeUndefined();
  });
});
