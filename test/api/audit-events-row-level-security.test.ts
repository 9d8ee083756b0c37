import { eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { type Actor, asActor, batchAsActor, SYSTEM } from "../../src/db/actor.ts";
import { openDatabase } from "../../src/db/client.ts";
import { serverError } from "../../src/db/errors.ts";
import { recordKeyEvent } from "../../src/db/queries/api-keys.ts";
import { recordSecurityEvent } from "../../src/db/queries/audit.ts";
import { insertUser } from "../../src/db/queries/users.ts";
import { AUDIT_DETAILS_MAX_BYTES, auditEvents } from "../../src/db/schema/audit.ts";
import { loadApiConfig } from "../../src/pkg/config/config.ts";
import { uniqueName } from "../auth-helpers.ts";
import { driverModes } from "../driver-modes.ts";
import { testEnv } from "../helpers.ts";

// The audit log's row-level security (migration 0030) straight at the database, in both driver
// modes: what a user may record and read, that nobody rewrites an event, and that only the
// system deletes (the retention sweep).
const handle = openDatabase(loadApiConfig(testEnv).database);
afterAll(() => handle.close());

const asUser = (id: string): Actor => ({ kind: "user", userId: id, role: "user", permissions: [] });
const admin = (id: string): Actor => ({ kind: "user", userId: id, role: "admin", permissions: [] });
const origin = { ip: "192.0.2.1", userAgent: "test", requestId: "req-audit" };

async function newUser(): Promise<string> {
  const name = uniqueName("audit");
  const created = await asActor(handle.db, SYSTEM, (tx) =>
    insertUser(tx, { email: `${name}@example.com`, username: name, passwordHash: "x" }),
  );
  return created.id;
}

/** "ok", or the SQLSTATE the server refused `work` with. */
async function outcome(work: Promise<unknown>): Promise<string> {
  try {
    await work;
    return "ok";
  } catch (error) {
    const server = serverError(error);
    if (!server) throw error;
    return server.code ?? "unknown";
  }
}

describe.each(driverModes(handle))("audit_events under row-level security, $name", (mode) => {
  it("lets a user record what they did, and refuses an event naming another actor", async () => {
    const [alice, bob] = [await newUser(), await newUser()];
    expect(
      await outcome(
        mode.run(asUser(alice), (db) =>
          recordSecurityEvent(db, { action: "mfa.enabled", actorId: alice, targetUserId: alice, origin }),
        ),
      ),
    ).toBe("ok");
    expect(
      await outcome(
        mode.run(asUser(alice), (db) =>
          recordSecurityEvent(db, { action: "user.role_changed", actorId: bob, targetUserId: bob, origin }),
        ),
      ),
    ).toBe("42501");
    expect(
      await outcome(
        mode.run(asUser(alice), (db) =>
          recordSecurityEvent(db, { action: "user.login_failed", actorId: null, targetUserId: bob, origin }),
        ),
      ),
    ).toBe("42501");
  });

  it("shows a user the events about their own account only; staff see all", async () => {
    const [alice, bob, root] = [await newUser(), await newUser(), await newUser()];
    await mode.run(SYSTEM, (db) =>
      recordSecurityEvent(db, { action: "user.role_changed", actorId: bob, targetUserId: alice, origin }),
    );
    await mode.run(SYSTEM, (db) =>
      recordSecurityEvent(db, { action: "user.role_changed", actorId: alice, targetUserId: bob, origin }),
    );
    // Whose events `actor` sees, of the two just recorded.
    const seen = async (actor: Actor) =>
      (
        await mode.run(actor, (db) =>
          db
            .select({ target: auditEvents.targetUserId })
            .from(auditEvents)
            .where(eq(auditEvents.requestId, origin.requestId)),
        )
      )
        .map((row) => row.target)
        .filter((target) => target === alice || target === bob);
    expect(await seen(asUser(alice))).toEqual([alice]);
    const forAdmin = await seen(admin(root));
    expect(forAdmin).toEqual(expect.arrayContaining([alice, bob]));
  });

  it("refuses rewriting an event to anyone, and deleting to all but the system", async () => {
    const [alice, root] = [await newUser(), await newUser()];
    const [event] = await mode.run(SYSTEM, (db) =>
      recordSecurityEvent(db, { action: "user.disabled", actorId: alice, targetUserId: alice, origin }).returning(),
    );
    if (!event) throw new Error("the event was not recorded");
    for (const actor of [asUser(alice), admin(root), SYSTEM]) {
      const updated = await mode.run(actor, (db) =>
        db.update(auditEvents).set({ action: "user.enabled" }).where(eq(auditEvents.id, event.id)).returning(),
      );
      expect(updated).toEqual([]);
    }
    for (const actor of [asUser(alice), admin(root)]) {
      const deleted = await mode.run(actor, (db) =>
        db.delete(auditEvents).where(eq(auditEvents.id, event.id)).returning(),
      );
      expect(deleted).toEqual([]);
    }
    const purged = await mode.run(SYSTEM, (db) =>
      db.delete(auditEvents).where(eq(auditEvents.id, event.id)).returning(),
    );
    expect(purged.map((row) => row.action)).toEqual(["user.disabled"]);
  });

  it("refuses details that are not an object or exceed 4 KiB", async () => {
    const big = { note: "x".repeat(AUDIT_DETAILS_MAX_BYTES) };
    expect(() =>
      recordSecurityEvent(handle.db, {
        action: "user.login_failed",
        actorId: null,
        targetUserId: null,
        origin,
        details: big,
      }),
    ).toThrow(RangeError);
    const raw = await outcome(
      mode.run(SYSTEM, (db) => db.insert(auditEvents).values({ action: "user.login_failed", details: big })),
    );
    expect(raw).toBe("23514");
  });
});

describe("security events recorded inside a change's own statement (securityEventValues)", () => {
  it("apply the same 4 KiB check as recordSecurityEvent, and only when the change happened (an API key's event)", async () => {
    const user = await newUser();
    const keyEvent = (details: Record<string, unknown>) => ({
      action: "api_key.created" as const,
      keyId: crypto.randomUUID(),
      actorId: user,
      targetUserId: user,
      origin,
      details,
    });
    const big = { note: "x".repeat(AUDIT_DETAILS_MAX_BYTES) };
    // Refused before it reaches the database (which would refuse it with a check violation).
    await expect(batchAsActor(handle.http, SYSTEM, (db) => [recordKeyEvent(db, keyEvent(big))])).rejects.toThrow(
      RangeError,
    );
    // Recorded only when the key exists: this one does not, so nothing is written.
    const [inserted] = await batchAsActor(handle.http, SYSTEM, (db) => [recordKeyEvent(db, keyEvent({ name: "ci" }))]);
    expect(inserted.rowCount).toBe(0);
  });
});
