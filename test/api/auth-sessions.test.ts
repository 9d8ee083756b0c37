import { describe, expect, it } from "vitest";
import { login, me, refresh, signedIn } from "../auth-helpers.ts";
import { api, expectProblem } from "../helpers.ts";

describe("logout and sessions", () => {
  it("ends the session: its access and refresh tokens are refused at once", async () => {
    const { tokens, auth } = await signedIn();
    const res = await api("/auth/logout", { method: "POST", headers: auth });
    expect(res.status).toBe(204);
    const problem = await expectProblem(await me(tokens.access_token), 401);
    expect(problem.detail).toMatch(/session has ended/);
    await expectProblem(await refresh(tokens.refresh_token), 400);
  });

  it("lists my sessions and ends one or all of them", async () => {
    const { user, auth, tokens } = await signedIn();
    const other = await login(user.username);
    const listed = (await (await api("/auth/sessions", { headers: auth })).json()) as {
      data: { id: string; current: boolean; ip: string | null }[];
    };
    expect(listed.data).toHaveLength(2);
    expect(listed.data.filter((s) => s.current)).toHaveLength(1);
    expect(listed.data.every((s) => s.ip?.startsWith("10."))).toBe(true);

    const otherSession = listed.data.find((s) => !s.current)?.id ?? "";
    expect((await api(`/auth/sessions/${otherSession}`, { method: "DELETE", headers: auth })).status).toBe(204);
    await expectProblem(await me(other.access_token), 401);
    expect((await me(tokens.access_token)).status).toBe(200);

    expect((await api("/auth/sessions", { method: "DELETE", headers: auth })).status).toBe(204);
    await expectProblem(await me(tokens.access_token), 401);
  });

  it("validates the session id", async () => {
    const { auth } = await signedIn();
    await expectProblem(await api("/auth/sessions/not-a-uuid", { method: "DELETE", headers: auth }), 400);
    await expectProblem(await api(`/auth/sessions/${crypto.randomUUID()}`, { method: "DELETE", headers: auth }), 404);
  });

  it("cannot end another user's session (it is not among mine)", async () => {
    const alice = await signedIn();
    const bob = await signedIn();
    const bobs = (await (await api("/auth/sessions", { headers: bob.auth })).json()) as { data: { id: string }[] };
    const target = bobs.data[0]?.id ?? "";
    await expectProblem(await api(`/auth/sessions/${target}`, { method: "DELETE", headers: alice.auth }), 404);
    expect((await me(bob.tokens.access_token)).status).toBe(200);
  });
});
