import { describe, expect, it } from "vitest";
import { asActor, SYSTEM } from "../../src/db/actor.ts";
import { openDatabase } from "../../src/db/client.ts";
import { storeNotification } from "../../src/db/queries/notifications.ts";
import { DEFAULT_POLICIES } from "../../src/gateway/rate-limit-policies.ts";
import { loadApiConfig } from "../../src/pkg/config/config.ts";
import { signedIn } from "../auth-helpers.ts";
import { api, apiWith, expectProblem, testEnv } from "../helpers.ts";

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
  verified: boolean;
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

describe("webhook registration under concurrency", () => {
  it("holds the per-user cap when registrations race (counted under a per-user lock)", async () => {
    const me = await signedIn();
    const statuses = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        api("/webhooks", json(me.auth, "POST", { url: `https://example.com/race/${i}` })).then(async (res) => {
          await res.body?.cancel();
          return res.status;
        }),
      ),
    );
    expect(statuses.filter((status) => status === 201)).toHaveLength(10);
    expect(statuses.filter((status) => status === 409)).toHaveLength(6);
    const listed = (await (await api("/webhooks", { headers: me.auth })).json()) as { data: WebhookJson[] };
    expect(listed.data).toHaveLength(10);
  });
});

/** A receiver of the test stack (stack/control.ts): its URL, what it got, and what it answers. */
function receiver() {
  const url = `${testEnv.CONTROL_URL}/hooks/verify-${crypto.randomUUID().slice(0, 8)}`;
  return {
    url,
    received: async () => (await (await fetch(url)).json()) as { headers: Record<string, string>; body: string }[],
    answerWith: async (answers: unknown[]) => {
      await fetch(`${url}/answers`, { method: "PUT", body: JSON.stringify(answers) });
    },
  };
}

describe("webhook verification (the receiver proves it wants the deliveries)", () => {
  async function registered(auth: Record<string, string>, url: string) {
    const res = await api("/webhooks", json(auth, "POST", { url }));
    expect(res.status).toBe(201);
    return (await res.json()) as WebhookJson;
  }
  const verify = (auth: Record<string, string>, id: string) =>
    api(`/webhooks/${id}/verify`, { method: "POST", headers: auth });

  it("is rate-limited per user (policy outbound): the API is no relay for probing hosts", async () => {
    const me = await signedIn();
    const hook = await registered(me.auth, receiver().url);
    const [burst] = DEFAULT_POLICIES.outbound ?? [];
    if (!burst) throw new Error("no outbound policy");
    for (let i = 0; i < burst.limit; i++) expect((await verify(me.auth, hook.id)).status).toBe(422);
    const refused = await expectProblem(await verify(me.auth, hook.id), 429);
    expect(refused.status).toBe(429);
    const again = await verify(me.auth, hook.id);
    expect(again.headers.get("ratelimit-policy")).toContain(`"burst";q=${burst.limit};w=${burst.windowSeconds}`);
  });

  it("starts unverified, is verified once the endpoint echoes the signed challenge, and again after a URL change", async () => {
    const me = await signedIn();
    const sink = receiver();
    const hook = await registered(me.auth, sink.url);
    expect(hook.verified).toBe(false);

    // An endpoint that merely answers 2xx (any URL on the Internet does) is not a consent.
    const silent = await expectProblem(await verify(me.auth, hook.id), 422);
    expect(silent.detail).toBe("Not verified: the endpoint did not echo the challenge.");
    await sink.answerWith([{ status: 200, echoChallenge: true }]);
    const res = await verify(me.auth, hook.id);
    expect(res.status).toBe(200);
    expect(res.headers.get("etag")).toMatch(/^"/);
    expect(await res.json()).toMatchObject({ id: hook.id, verified: true });

    const [, challenge] = await sink.received();
    expect(challenge?.headers["webhook-signature"]).toMatch(/^v1,/);
    expect(challenge?.headers["webhook-id"]).toMatch(/^verify_/);
    expect(JSON.parse(challenge?.body ?? "{}")).toMatchObject({
      type: "webhook.verification",
      data: { challenge: expect.any(String) },
    });

    const same = await api(`/webhooks/${hook.id}`, json(me.auth, "PATCH", { url: sink.url, events: [] }));
    expect(await same.json()).toMatchObject({ verified: true });
    const moved = await api(`/webhooks/${hook.id}`, json(me.auth, "PATCH", { url: `${sink.url}x` }));
    expect(await moved.json()).toMatchObject({ verified: false });
  });

  it("does not follow a redirect, and does not read an oversized answer", async () => {
    const me = await signedIn();
    const sink = receiver();
    const elsewhere = receiver();
    await elsewhere.answerWith([{ status: 200, echoChallenge: true }]);
    await sink.answerWith([
      { status: 307, headers: { location: elsewhere.url } },
      { status: 200, bodyBytes: 1_000_000 },
    ]);
    const hook = await registered(me.auth, sink.url);
    const redirected = await expectProblem(await verify(me.auth, hook.id), 422);
    expect(redirected.detail).toBe("Not verified: the endpoint answered 307; redirects are not followed.");
    expect(await elsewhere.received()).toEqual([]);
    const large = await expectProblem(await verify(me.auth, hook.id), 422);
    expect(large.detail).toBe("Not verified: the endpoint's answer is too large.");
    expect((await (await api(`/webhooks/${hook.id}`, { headers: me.auth })).json()) as WebhookJson).toMatchObject({
      verified: false,
    });
  });

  it("outside the local stack's allowance: refuses private URLs, and names that resolve to private addresses when verifying", async () => {
    const strict = {
      WEBHOOK_ALLOW_LOCAL_RECEIVERS: "false",
      WEBHOOK_DNS_RESOLVER: `${testEnv.CONTROL_URL}/dns-query`,
    };
    const me = await signedIn();
    const local = await expectProblem(
      await apiWith(strict, "/webhooks", json(me.auth, "POST", { url: "https://[::ffff:127.0.0.1]/hook" })),
      400,
    );
    expect(local.errors?.[0]?.pointer).toBe("/url");
    const name = `rebind-${crypto.randomUUID().slice(0, 8)}.example.com`;
    await fetch(`${testEnv.CONTROL_URL}/dns/records`, {
      method: "PUT",
      body: JSON.stringify({ [name]: { A: ["10.0.0.7"] } }),
    });
    const res = await apiWith(strict, "/webhooks", json(me.auth, "POST", { url: `https://${name}/hook` }));
    expect(res.status).toBe(201);
    const hook = (await res.json()) as WebhookJson;
    const refused = await expectProblem(
      await apiWith(strict, `/webhooks/${hook.id}/verify`, { method: "POST", headers: me.auth }),
      422,
    );
    expect(refused.detail).toBe("Not verified: the URL resolves to 10.0.0.7, a non-public address.");
    const nowhere = `nowhere-${crypto.randomUUID().slice(0, 8)}.example.com`;
    const lost = await apiWith(strict, "/webhooks", json(me.auth, "POST", { url: `https://${nowhere}/hook` }));
    const lostHook = (await lost.json()) as WebhookJson;
    const unresolvable = await expectProblem(
      await apiWith(strict, `/webhooks/${lostHook.id}/verify`, { method: "POST", headers: me.auth }),
      422,
    );
    expect(unresolvable.detail).toBe(`Not verified: the URL's host ${nowhere} does not resolve to an address.`);
  });
});

describe("configuration", () => {
  it("refuses the local allowances in production", () => {
    const production = {
      ...testEnv,
      ENVIRONMENT: "production",
      WEBHOOK_ALLOW_LOCAL_RECEIVERS: "false",
      OIDC_ALLOW_HTTP: "false",
    };
    for (const name of ["WEBHOOK_ALLOW_LOCAL_RECEIVERS", "OIDC_ALLOW_HTTP"]) {
      expect(() => loadApiConfig({ ...production, [name]: "true" }), name).toThrow(name);
    }
    expect(() => loadApiConfig({ ...production, WEBHOOK_DNS_RESOLVER: "http://dns.example.com/dns-query" })).toThrow(
      "WEBHOOK_DNS_RESOLVER",
    );
    // The test stack's provider is a plain-http issuer: only the local allowance accepts it.
    expect(() => loadApiConfig(production)).toThrow("OIDC_PROVIDERS.0.issuer: must be an https URL");
    expect(() => loadApiConfig(production)).not.toThrow("WEBHOOK_");
  });
});
