import { describe, expect, it } from "vitest";
import { manager, permissionManager, readPermissions, readUser, staff } from "../grant-helpers.ts";
import { api } from "../helpers.ts";

describe("concurrent delegated changes (OWASP API5: decided on the actor's current rights)", () => {
  // Each request passes the session check before either commits; only the writing transaction,
  // serialised with every other delegated change and re-reading the actor, can refuse the second.
  const ROUNDS = 5;

  it("two users:manage holders disabling each other at once: exactly one succeeds", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const [a, b] = await Promise.all([staff(manager), staff(manager)]);
      const responses = await Promise.all([
        api(`/users/${b.user.id}/disable`, { method: "POST", headers: a.auth }),
        api(`/users/${a.user.id}/disable`, { method: "POST", headers: b.auth }),
      ]);
      const statuses = responses.map((res) => res.status);
      const winner = statuses.indexOf(200);
      expect(
        statuses.filter((status) => status === 200),
        `round ${round}: ${statuses}`,
      ).toHaveLength(1);
      const loser = responses[1 - winner];
      // 403 when its transaction saw it disabled; 401 when it came after its sessions had ended.
      expect([401, 403], `round ${round}: ${statuses}`).toContain(loser?.status);
      if (loser?.status === 403) {
        expect(((await loser.json()) as { grantRule?: string }).grantRule).toBe("function");
      }
      // The state one sequential order leaves: the loser disabled, the winner still active.
      const [winnerId, loserId] = winner === 0 ? [a.user.id, b.user.id] : [b.user.id, a.user.id];
      expect((await readUser(winnerId))?.status).toBe("active");
      expect((await readUser(loserId))?.status).toBe("disabled");
    }
  });

  it("two permissions:manage holders revoking each other's permissions:manage at once: exactly one succeeds", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const [a, b] = await Promise.all([staff(permissionManager), staff(permissionManager)]);
      const revoke = (target: string, auth: Record<string, string>) =>
        api(`/users/${target}/permissions/permissions:manage`, { method: "DELETE", headers: auth });
      const responses = await Promise.all([revoke(b.user.id, a.auth), revoke(a.user.id, b.auth)]);
      const statuses = responses.map((res) => res.status);
      const winner = statuses.indexOf(200);
      expect(
        statuses.filter((status) => status === 200),
        `round ${round}: ${statuses}`,
      ).toHaveLength(1);
      const loser = responses[1 - winner];
      expect(loser?.status, `round ${round}: ${statuses}`).toBe(403);
      const [winnerId, loserId] = winner === 0 ? [a.user.id, b.user.id] : [b.user.id, a.user.id];
      expect(await readPermissions(winnerId)).toEqual(["permissions:manage"]);
      expect(await readPermissions(loserId)).toEqual([]);
    }
  });
});
