import { describe, expect, it } from "vitest";
import { me, type OAuthErrorJson, refresh, signedIn, type Tokens, tokenRequest } from "../auth-helpers.ts";
import { expectProblem } from "../helpers.ts";

describe("refresh", () => {
  it("rotates the refresh token on every use", async () => {
    const { tokens } = await signedIn();
    const first = await refresh(tokens.refresh_token);
    expect(first.status).toBe(200);
    const rotated = (await first.json()) as Tokens;
    expect(rotated.refresh_token).not.toBe(tokens.refresh_token);
    expect((await me(rotated.access_token)).status).toBe(200);
    const second = (await (await refresh(rotated.refresh_token)).json()) as Tokens;
    expect(second.refresh_token).not.toBe(rotated.refresh_token);
  });

  it("also works through the token endpoint's refresh_token grant", async () => {
    const { tokens } = await signedIn();
    const res = await tokenRequest({ grant_type: "refresh_token", refresh_token: tokens.refresh_token });
    expect(res.status).toBe(200);
  });

  it("ends the whole session when a rotated refresh token is reused", async () => {
    const { tokens } = await signedIn();
    const a = (await (await refresh(tokens.refresh_token)).json()) as Tokens;
    const b = (await (await refresh(a.refresh_token)).json()) as Tokens;
    // The first token is two rotations old: a thief replaying it.
    const reuse = (await expectProblem(await refresh(tokens.refresh_token), 400)) as OAuthErrorJson;
    expect(reuse.error).toBe("invalid_grant");
    expect(reuse.error_description).toMatch(/already used/);
    // Everything of the session is dead, including the legitimate holder's newest tokens.
    await expectProblem(await refresh(b.refresh_token), 400);
    await expectProblem(await me(b.access_token), 401);
  });

  it("lets two concurrent refreshes of one client both succeed with the same new token", async () => {
    const { tokens } = await signedIn();
    const results = await Promise.all(Array.from({ length: 5 }, () => refresh(tokens.refresh_token)));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    const bodies = (await Promise.all(results.map((r) => r.json()))) as Tokens[];
    expect(new Set(bodies.map((b) => b.refresh_token)).size).toBe(1);
    const next = bodies[0]?.refresh_token ?? "";
    expect((await refresh(next)).status).toBe(200);
  });

  it("refuses a malformed or unknown refresh token", async () => {
    await expectProblem(await refresh("not-a-token"), 400);
    const { user } = await signedIn();
    const forged = `${user.id}.${crypto.randomUUID()}.${"A".repeat(43)}`;
    await expectProblem(await refresh(forged), 400);
  });
});
