import { describe, expect, it } from "vitest";
import { asActor, SYSTEM } from "../../src/db/actor.ts";
import { openDatabase } from "../../src/db/client.ts";
import { storeNotification } from "../../src/db/queries/notifications.ts";
import { webhookUrlProblem } from "../../src/notifications/webhook-url.ts";
import { loadApiConfig } from "../../src/pkg/config/config.ts";
import { signedIn } from "../auth-helpers.ts";
import { api, expectProblem, testEnv } from "../helpers.ts";

interface NotificationJson {
  id: string;
  type: string;
  title: string;
  read: boolean;
  readAt: string | null;
}
interface Page {
  data: NotificationJson[];
  nextCursor: string | null;
  unreadCount: number;
}
interface WebhookJson {
  id: string;
  url: string;
  events: string[];
  active: boolean;
  secret?: string;
}

const json = (auth: Record<string, string>, method: string, body?: unknown): RequestInit => ({
  method,
  headers: { ...auth, "content-type": "application/json" },
  ...(body === undefined ? {} : { body: JSON.stringify(body) }),
});

/** Stores notifications as the Notification Service does (its queue path is tested in test/processor). */
async function notify(userId: string, count: number): Promise<void> {
  const handle = openDatabase(loadApiConfig(testEnv).database);
  try {
    for (let i = 0; i < count; i++) {
      await asActor(handle.db, SYSTEM, (tx) =>
        storeNotification(tx, {
          userId,
          type: "document.ready",
          title: `n${i}`,
          body: "",
          data: {},
          eventId: crypto.randomUUID(),
        }),
      );
    }
  } finally {
    await handle.close();
  }
}

const list = async (auth: Record<string, string>, query = "") =>
  (await (await api(`/notifications${query}`, { headers: auth })).json()) as Page;

describe("in-app notifications", () => {
  it("lists mine newest first by keyset, marks one or all read", async () => {
    const me = await signedIn();
    const other = await signedIn();
    await notify(me.user.id, 5);
    await notify(other.user.id, 2);

    const first = await list(me.auth, "?limit=3");
    expect(first.unreadCount).toBe(5);
    expect(first.data.map((n) => n.title)).toEqual(["n4", "n3", "n2"]);
    const second = await list(me.auth, `?limit=3&cursor=${first.nextCursor}`);
    expect(second.data.map((n) => n.title)).toEqual(["n1", "n0"]);
    expect(second.nextCursor).toBeNull();

    const target = first.data[0]?.id ?? "";
    const read = await api(`/notifications/${target}/read`, { method: "POST", headers: me.auth });
    expect(await read.json()).toMatchObject({ id: target, read: true });
    expect((await list(me.auth)).unreadCount).toBe(4);
    expect((await list(me.auth, "?unread=true")).data.map((n) => n.id)).not.toContain(target);

    // Someone else's notification is not mine to read.
    const theirs = (await list(other.auth)).data[0]?.id ?? "";
    await expectProblem(await api(`/notifications/${theirs}/read`, { method: "POST", headers: me.auth }), 404);
    expect((await list(other.auth)).unreadCount).toBe(2);

    const all = await api("/notifications/read-all", { method: "POST", headers: me.auth });
    expect(await all.json()).toEqual({ updated: 4 });
    expect((await list(me.auth)).unreadCount).toBe(0);
    expect((await list(other.auth)).unreadCount).toBe(2);
  });

  it("needs a token", async () => {
    await expectProblem(await api("/notifications"), 401);
  });
});

describe("webhooks", () => {
  it("registers with a secret shown once, lists, updates, shows deliveries and deletes", async () => {
    const me = await signedIn();
    const other = await signedIn();
    const res = await api(
      "/webhooks",
      json(me.auth, "POST", { url: "https://example.com/hook", events: ["document.ready"] }),
    );
    expect(res.status).toBe(201);
    const hook = (await res.json()) as WebhookJson;
    expect(hook.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(hook).toMatchObject({ url: "https://example.com/hook", events: ["document.ready"], active: true });

    const listed = (await (await api("/webhooks", { headers: me.auth })).json()) as { data: WebhookJson[] };
    expect(listed.data).toHaveLength(1);
    expect(listed.data[0]).not.toHaveProperty("secret");
    expect(JSON.stringify(await (await api(`/webhooks/${hook.id}`, { headers: me.auth })).json())).not.toContain(
      "whsec_",
    );

    const paused = await api(`/webhooks/${hook.id}`, json(me.auth, "PATCH", { active: false, events: [] }));
    expect(await paused.json()).toMatchObject({ active: false, events: [] });
    const deliveries = await api(`/webhooks/${hook.id}/deliveries`, { headers: me.auth });
    expect(await deliveries.json()).toEqual({ data: [] });

    // Not visible to others.
    await expectProblem(await api(`/webhooks/${hook.id}`, { headers: other.auth }), 404);
    await expectProblem(await api(`/webhooks/${hook.id}`, { method: "DELETE", headers: other.auth }), 404);
    await expectProblem(await api(`/webhooks/${hook.id}/deliveries`, { headers: other.auth }), 404);

    expect((await api(`/webhooks/${hook.id}`, { method: "DELETE", headers: me.auth })).status).toBe(204);
    await expectProblem(await api(`/webhooks/${hook.id}`, { headers: me.auth }), 404);
  });

  it("validates URL and events, and caps how many a user has", async () => {
    const me = await signedIn();
    const bad = await expectProblem(
      await api("/webhooks", json(me.auth, "POST", { url: "ftp://x", events: ["nope"] })),
      400,
    );
    expect(bad.errors?.map((e) => e.pointer).sort()).toEqual(["/events/0", "/url"]);
    const creds = await expectProblem(
      await api("/webhooks", json(me.auth, "POST", { url: "https://u:p@example.com/" })),
      400,
    );
    expect(creds.errors).toEqual([{ in: "body", pointer: "/url", message: "must not contain credentials" }]);
    for (let i = 0; i < 10; i++) {
      expect((await api("/webhooks", json(me.auth, "POST", { url: `https://example.com/${i}` }))).status).toBe(201);
    }
    await expectProblem(await api("/webhooks", json(me.auth, "POST", { url: "https://example.com/11" })), 409);
  });
});

describe("webhookUrlProblem", () => {
  it("allows http locally, and only public https in production", () => {
    expect(webhookUrlProblem("http://127.0.0.1:8080/hook", "development")).toBeUndefined();
    expect(webhookUrlProblem("https://hooks.example.com/x", "production")).toBeUndefined();
    expect(webhookUrlProblem("http://hooks.example.com/x", "production")).toBe("must use https");
    for (const internal of [
      "https://localhost/x",
      "https://127.0.0.1/x",
      "https://10.0.0.8/x",
      "https://192.168.1.1/x",
      "https://172.20.0.1/x",
      "https://169.254.169.254/latest/meta-data",
      "https://[::1]/x",
      "https://[fd00::1]/x",
      "https://db.internal/x",
    ]) {
      expect(webhookUrlProblem(internal, "production"), internal).toBe(
        "must not point to a private or loopback address",
      );
    }
    expect(webhookUrlProblem("https://172.32.0.1/x", "production")).toBeUndefined();
    expect(webhookUrlProblem("javascript:alert(1)", "development")).toBe("must be an http(s) URL");
    expect(webhookUrlProblem("not a url", "development")).toBe("not a URL");
  });
});
