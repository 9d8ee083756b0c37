import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { asActor } from "../../src/db/actor.ts";
import { json } from "../account-helpers.ts";
import { promote, signedIn } from "../auth-helpers.ts";
import { actorFor, db, readUser, writer } from "../grant-helpers.ts";
import { api, expectProblem } from "../helpers.ts";
import { waitForMail } from "../mail-helpers.ts";

// Grant rule "held" on credentials (src/auth/grant-rules.ts, rule 3): whoever takes over an
// account acts with its permissions, so only a holder of all of them changes its credentials.
async function managerAndPrivilegedTarget() {
  const manager = await signedIn();
  await promote(manager.user.id, { permissions: ["users:manage", "users:write"] });
  const target = await signedIn();
  await promote(target.user.id, { permissions: ["permissions:manage"] });
  return { manager, target };
}

const grantRuleOf = (problem: unknown) => (problem as { grantRule?: string }).grantRule;

describe("credential changes on an account holding a permission the caller lacks", () => {
  it("security: a temporary password, an MFA reset and an admin reset link are refused 403 (held)", async () => {
    const { manager, target } = await managerAndPrivilegedTarget();
    const password = await api(
      `/users/${target.user.id}/password`,
      json("PUT", manager.auth, { password: "A-temporary-pass-1234" }),
    );
    expect(grantRuleOf(await expectProblem(password, 403))).toBe("held");
    const mfa = await api(`/users/${target.user.id}/mfa`, { method: "DELETE", headers: manager.auth });
    expect(grantRuleOf(await expectProblem(mfa, 403))).toBe("held");
    const reset = await api(`/users/${target.user.id}/password-reset`, { method: "POST", headers: manager.auth });
    expect(grantRuleOf(await expectProblem(reset, 403))).toBe("held");
    // The target's own password still works: nothing changed.
    expect((await api("/users/me", { headers: target.auth })).status).toBe(200);
  });

  it("security: moving the email of such an account is refused 403 (held) and the email stays", async () => {
    const { manager, target } = await managerAndPrivilegedTarget();
    const res = await api(
      `/users/${target.user.id}`,
      json("PATCH", manager.auth, { email: `taken-over-${crypto.randomUUID()}@example.com` }),
    );
    expect(grantRuleOf(await expectProblem(res, 403))).toBe("held");
    const me = await api("/users/me", { headers: target.auth });
    expect(((await me.json()) as { email: string }).email).toBe(target.user.email);
  });

  it("happy: a caller holding every permission of the account still sets its temporary password", async () => {
    const manager = await signedIn();
    await promote(manager.user.id, { permissions: ["users:manage", "permissions:manage"] });
    const target = await signedIn();
    await promote(target.user.id, { permissions: ["permissions:manage"] });
    const res = await api(
      `/users/${target.user.id}/password`,
      json("PUT", manager.auth, { password: "A-temporary-pass-1234" }),
    );
    expect(res.status).toBe(204);
  });

  it("happy: an email change by a users:write holder tells the OLD address", async () => {
    const writer = await signedIn();
    await promote(writer.user.id, { permissions: ["users:write"] });
    const target = await signedIn();
    const moved = `moved-${crypto.randomUUID()}@example.com`;
    const res = await api(`/users/${target.user.id}`, json("PATCH", writer.auth, { email: moved }));
    expect(res.status).toBe(200);
    const notice = await waitForMail(target.user.email, "changed by an administrator");
    expect(notice.text).toContain(moved);
  });

  it("security: the users trigger refuses a raw email change of such an account by a users:write holder", async () => {
    const caller = await signedIn();
    const target = await signedIn();
    await promote(target.user.id, { permissions: ["permissions:manage"] });
    const raw = asActor(db, actorFor(caller.user.id, writer), (tx) =>
      tx.execute(
        sql`update users set email = ${`raw-${crypto.randomUUID()}@example.com`} where id = ${target.user.id}`,
      ),
    );
    const refused = await raw.then(
      () => undefined,
      (error: unknown) => error as { cause?: { message?: string } },
    );
    expect(refused?.cause?.message).toMatch(/grant rule "held"/);
    expect(await readUser(target.user.id)).toMatchObject({ email: target.user.email });
  });
});
