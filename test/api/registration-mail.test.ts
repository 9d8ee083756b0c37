import { describe, expect, it } from "vitest";
import { PASSWORD, randomIp, register, uniqueName } from "../auth-helpers.ts";
import { api, apiWith, captureLines } from "../helpers.ts";
import { mailsTo, waitForMail } from "../mail-helpers.ts";

const SUBJECT = "Someone tried to register with your address";

const registerRaw = (body: unknown) =>
  api("/users", {
    method: "POST",
    headers: { "content-type": "application/json", "cf-connecting-ip": randomIp() },
    body: JSON.stringify(body),
  });

/** The shape of an answer: status, Location's form, and each member with its type. */
async function shapeOf(res: Response) {
  const body = (await res.json()) as Record<string, unknown>;
  return {
    status: res.status,
    location: res.headers.get("location")?.replace(/[0-9a-f-]{36}$/, "<id>"),
    members: Object.fromEntries(Object.entries(body).map(([k, v]) => [k, v === null ? "null" : typeof v])),
  };
}

describe("registration with a taken address: the owner is told by mail", () => {
  it("mails the owner of a taken email a notice, and answers as for a new account", async () => {
    const { user } = await register();
    const fresh = uniqueName();
    const created = await shapeOf(
      await registerRaw({ email: `${fresh}@example.com`, username: fresh, password: PASSWORD, displayName: "Fresh" }),
    );
    const again = await registerRaw({
      email: user.email.toUpperCase(),
      username: uniqueName(),
      password: "another horse battery staple",
      displayName: "<script>alert(1)</script>",
    });
    expect(await shapeOf(again)).toEqual(created);

    const mail = await waitForMail(user.email, SUBJECT);
    expect(mail.envelope.to).toEqual([user.email]);
    expect(mail.text).toContain(`Someone tried to create a new TechCorp account with ${user.email}`);
    expect(mail.text).toContain("If it was you, sign in with your existing account instead.");
    expect(mail.html).toContain(`<strong>${user.email}</strong>`);
    // Nothing the registrant typed but the address reaches the owner.
    expect(`${mail.text}${mail.html}`).not.toContain("script");
    expect(mail.headers["auto-submitted"]).toBe("auto-generated");
  });

  it("mails the owner of the email when the username was refused first (both taken)", async () => {
    const { user: owner } = await register();
    const { user: other } = await register();
    const res = await registerRaw({ email: owner.email, username: other.username, password: PASSWORD });
    expect(res.status).toBe(201);
    await waitForMail(owner.email, SUBJECT);
    // The holder of the username is not told: the address was someone else's.
    expect((await mailsTo(other.email)).filter((mail) => mail.subject === SUBJECT)).toEqual([]);
  });

  it("tells a free address whose username was taken that nothing was created, without the username", async () => {
    const { user: holder } = await register();
    const fresh = uniqueName();
    const email = `${fresh}@example.com`;
    const created = await shapeOf(
      await registerRaw({ email: `${uniqueName()}@example.com`, username: uniqueName(), password: PASSWORD }),
    );
    const refused = await registerRaw({ email, username: holder.username.toUpperCase(), password: PASSWORD });
    expect(await shapeOf(refused)).toEqual(created);
    const mail = await waitForMail(email, "Your TechCorp account was not created");
    expect(mail.text).toContain("the username they chose is already taken, so nothing was created");
    // The address may be someone else's: nothing typed (the username) reaches it, and the holder
    // of the username hears nothing.
    expect(`${mail.text}${mail.html}`.toLowerCase()).not.toContain(holder.username.toLowerCase());
    expect((await mailsTo(holder.email)).filter((m) => m.subject === "Your TechCorp account was not created")).toEqual(
      [],
    );
    expect((await mailsTo(email)).map((m) => m.subject)).toEqual(["Your TechCorp account was not created"]);
  });

  it("sends a fresh registration no notice: its address gets only the notice of the later attempt", async () => {
    const name = uniqueName();
    const email = `${name}@example.com`;
    expect((await registerRaw({ email, username: name, password: PASSWORD })).status).toBe(201);
    expect((await registerRaw({ email, username: uniqueName(), password: PASSWORD })).status).toBe(201);
    await waitForMail(email, SUBJECT);
    await waitForMail(email, "Confirm your email address");
    // Its own registration brought the verification link, not a notice.
    expect((await mailsTo(email)).map((mail) => mail.subject).sort()).toEqual(["Confirm your email address", SUBJECT]);
  });

  it("sends one address at most one notice an hour, whatever client registers with it", async () => {
    const { user } = await register();
    const attempt = () =>
      apiWith({ LOG_LEVEL: "info" }, "/users", {
        method: "POST",
        headers: { "content-type": "application/json", "cf-connecting-ip": randomIp() },
        body: JSON.stringify({ email: user.email, username: uniqueName(), password: PASSWORD }),
      });
    const first = await captureLines(async () => expect((await attempt()).status).toBe(201));
    expect(first.some((line) => String(line.message).startsWith("registration notice not sent"))).toBe(false);
    const second = await captureLines(async () => expect((await attempt()).status).toBe(201));
    expect(second.some((line) => String(line.message).startsWith("registration notice not sent"))).toBe(true);
    await waitForMail(user.email, SUBJECT);
    // Beside the verification link of the account's own registration.
    expect((await mailsTo(user.email)).filter((mail) => mail.subject === SUBJECT)).toHaveLength(1);
  });

  it("lets the next attempt send the notice when the queue refused it", async () => {
    const { user } = await register();
    const broken = {
      send: () => Promise.reject(new Error("queue unavailable")),
      sendBatch: () => Promise.reject(new Error("queue unavailable")),
    } as unknown as Queue;
    const body = () => JSON.stringify({ email: user.email, username: uniqueName(), password: PASSWORD });
    const headers = { "content-type": "application/json", "cf-connecting-ip": randomIp() };
    await captureLines(async () => {
      await apiWith({ NOTIFICATIONS: broken }, "/users", { method: "POST", headers, body: body() });
    });
    expect((await registerRaw(JSON.parse(body()))).status).toBe(201);
    await waitForMail(user.email, SUBJECT);
  });

  it("answers a taken email alike when the queue refuses the notice: logged, not shown", async () => {
    const { user } = await register();
    const fresh = uniqueName();
    const created = await shapeOf(
      await registerRaw({ email: `${fresh}@example.com`, username: fresh, password: PASSWORD }),
    );
    const broken = {
      send: () => Promise.reject(new Error("queue unavailable")),
      sendBatch: () => Promise.reject(new Error("queue unavailable")),
    } as unknown as Queue;
    const lines = await captureLines(async () => {
      const res = await apiWith({ NOTIFICATIONS: broken, LOG_LEVEL: "warn" }, "/users", {
        method: "POST",
        headers: { "content-type": "application/json", "cf-connecting-ip": randomIp() },
        body: JSON.stringify({ email: user.email, username: uniqueName(), password: PASSWORD }),
      });
      expect(await shapeOf(res)).toEqual(created);
    });
    expect(lines.some((line) => line.message === "registration notice failed")).toBe(true);
  });
});
