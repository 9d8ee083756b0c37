import { describe, expect, it } from "vitest";
import { requiredActionsOf, routeAllowedWith, sessionLifetimesOf } from "../../src/auth/required-actions.ts";

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

  it("a restricted session reaches only the routes of its actions, its profile and logout", () => {
    expect(routeAllowedWith([], "GET /documents")).toBe(true);
    expect(routeAllowedWith(["CONFIGURE_TOTP"], "GET /documents")).toBe(false);
    expect(routeAllowedWith(["CONFIGURE_TOTP"], "POST /auth/mfa/confirm")).toBe(true);
    expect(routeAllowedWith(["CONFIGURE_TOTP"], "POST /users/me/password")).toBe(false);
    expect(routeAllowedWith(["UPDATE_PASSWORD"], "POST /users/me/password")).toBe(true);
    expect(routeAllowedWith(["UPDATE_PASSWORD"], "GET /users/me")).toBe(true);
    expect(routeAllowedWith(["UPDATE_PASSWORD"], "PATCH /users/me")).toBe(false);
    expect(routeAllowedWith(["UPDATE_PASSWORD"], "POST /auth/logout")).toBe(true);
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
