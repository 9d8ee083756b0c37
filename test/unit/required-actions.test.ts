import { describe, expect, it } from "vitest";
import { requiredActionsOf, sessionLifetimesOf } from "../../src/auth/required-actions.ts";

const lifetimes = {
  sessionMaxAgeMs: 60 * 86_400_000,
  sessionIdleTimeoutMs: 14 * 86_400_000,
  staffSessionMaxAgeMs: 12 * 3_600_000,
  staffSessionIdleTimeoutMs: 30 * 60_000,
};

describe("required actions", () => {
  it("staff without a confirmed second factor must configure TOTP; others need nothing", () => {
    const base = { mfaEnabled: false, passwordChangeRequired: false };
    expect(requiredActionsOf({ ...base, role: "admin", permissions: [] })).toEqual(["CONFIGURE_TOTP"]);
    expect(requiredActionsOf({ ...base, role: "user", permissions: ["analytics:read"] })).toEqual(["CONFIGURE_TOTP"]);
    expect(requiredActionsOf({ ...base, role: "user", permissions: [] })).toEqual([]);
    expect(requiredActionsOf({ ...base, role: "admin", permissions: [], mfaEnabled: true })).toEqual([]);
  });

  it("a temporary password must be changed, whoever holds it", () => {
    expect(
      requiredActionsOf({ role: "admin", permissions: [], mfaEnabled: false, passwordChangeRequired: true }),
    ).toEqual(["CONFIGURE_TOTP", "UPDATE_PASSWORD"]);
    expect(
      requiredActionsOf({ role: "user", permissions: [], mfaEnabled: false, passwordChangeRequired: true }),
    ).toEqual(["UPDATE_PASSWORD"]);
  });

  it("staff sessions take the shorter lifetimes", () => {
    expect(sessionLifetimesOf({ role: "user", permissions: [] }, lifetimes)).toEqual({
      absoluteTtlMs: lifetimes.sessionMaxAgeMs,
      idleTimeoutMs: lifetimes.sessionIdleTimeoutMs,
    });
    expect(sessionLifetimesOf({ role: "admin", permissions: [] }, lifetimes)).toEqual({
      absoluteTtlMs: 12 * 3_600_000,
      idleTimeoutMs: 30 * 60_000,
    });
    // Never longer than the general lifetimes.
    expect(
      sessionLifetimesOf({ role: "admin", permissions: [] }, { ...lifetimes, sessionIdleTimeoutMs: 10 * 60_000 })
        .idleTimeoutMs,
    ).toBe(10 * 60_000);
  });
});
