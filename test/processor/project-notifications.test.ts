import { eq } from "drizzle-orm";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createWebhook, markWebhookVerified } from "../../src/db/queries/notifications.ts";
import { webhookDeliveries } from "../../src/db/schema/notifications.ts";
import { type ProjectRole, projectMembers, projects } from "../../src/db/schema/projects.ts";
import { generateWebhookSecret, WEBHOOK_SECRET_PURPOSE } from "../../src/notifications/webhook-signature.ts";
import { createSecretBox } from "../../src/pkg/crypto/secret-box.ts";
import {
  buildEvent,
  DocumentMovedSchema,
  MemberInvitedSchema,
  MemberJoinedSchema,
} from "../../src/pkg/queue/events.ts";
import { asSystem, config, deliver, eventually, newUser, notificationsOf, testEnv } from "./helpers.ts";

// The Project Service's events on the document-events queue, as the processor hands them to the
// Notification Service (notifyProjectEvents): redeliveries, and events that outlive their project.
// The routes that publish them are tested in test/api/project-notifications.test.ts.

afterEach(() => {
  vi.restoreAllMocks();
});

/** A project made as the system, with its members (one of them an owner). */
async function projectWith(members: Record<string, ProjectRole>) {
  const slug = `events-${crypto.randomUUID().slice(0, 8)}`;
  return asSystem(async (tx) => {
    const [project] = await tx
      .insert(projects)
      .values({ slug, name: `Project ${slug}` })
      .returning();
    if (!project) throw new Error("no project");
    await tx
      .insert(projectMembers)
      .values(Object.entries(members).map(([userId, role]) => ({ projectId: project.id, userId, role })));
    return project;
  });
}

/** The sweeper's purge of a project: gone with its members. */
const purge = (projectId: string) => asSystem((tx) => tx.delete(projects).where(eq(projects.id, projectId)));

/** A verified webhook of `userId` at a receiver of the test stack, subscribed to `events`. */
async function webhookOf(userId: string, events: string[]) {
  const url = `${testEnv.CONTROL_URL}/hooks/project-${crypto.randomUUID().slice(0, 8)}`;
  const box = await createSecretBox(config.encryptionKey, WEBHOOK_SECRET_PURPOSE);
  const secretCiphertext = await box.seal(generateWebhookSecret());
  const webhook = await asSystem(async (tx) => {
    const created = await createWebhook(tx, { userId, url, secretCiphertext, events });
    return (await markWebhookVerified(tx, { userId, id: created.id, url })) ?? created;
  });
  return {
    webhook,
    received: async () => (await (await fetch(url)).json()) as { headers: Record<string, string> }[],
  };
}

const deliveriesOf = (webhookId: string) =>
  asSystem((tx) => tx.select().from(webhookDeliveries).where(eq(webhookDeliveries.webhookId, webhookId)));

const ofEvent = async (userId: string, eventId: string) =>
  (await notificationsOf(userId)).filter((row) => row.eventId === eventId);

describe("project events through the processor", () => {
  it("a redelivered event stores one notification per person and one webhook delivery", async () => {
    const [owner, admin, editor, joiner] = [await newUser(), await newUser(), await newUser(), await newUser()];
    const project = await projectWith({ [owner]: "owner", [admin]: "admin", [editor]: "editor", [joiner]: "viewer" });
    const hook = await webhookOf(owner, ["project.member_joined"]);
    const requestId = `req-join-${crypto.randomUUID().slice(0, 8)}`;
    const event = buildEvent(MemberJoinedSchema, {
      type: "project.member_joined",
      requestId,
      projectId: project.id,
      actorId: joiner,
      userId: joiner,
      role: "viewer",
    });

    // Twice in one batch, then once more (a redelivery after an ack that was lost).
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    const first = await deliver("document-events", [event, event], { LOG_LEVEL: "info" });
    expect(first.result.explicitAcks).toEqual(first.ids);
    vi.restoreAllMocks();
    const again = await deliver("document-events", [event], {}, 2);
    expect(again.result.explicitAcks).toEqual(again.ids);

    for (const manager of [owner, admin]) {
      const rows = await ofEvent(manager, event.id);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        type: "project.member_joined",
        data: { projectId: project.id, projectSlug: project.slug, userId: joiner, actorId: joiner, role: "viewer" },
      });
    }
    // Neither the one who joined nor a member who manages nothing.
    expect(await notificationsOf(joiner)).toEqual([]);
    expect(await notificationsOf(editor)).toEqual([]);

    // The processor's log line carries the request id of the request that caused the event.
    const processed = lines
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.message === "message processed" && line.eventType === "project.member_joined");
    expect(processed).toHaveLength(2);
    for (const line of processed) expect(line).toMatchObject({ requestId, eventId: event.id });
    // Each copy counts the people of its own event, not of every copy in the batch.
    expect(processed.map((line) => line.note)).toEqual(["2 people notified", "2 people notified"]);

    const [delivery] = await eventually(async () => {
      const rows = await deliveriesOf(hook.webhook.id);
      return rows[0]?.status === "delivered" ? rows : undefined;
    });
    expect(await deliveriesOf(hook.webhook.id)).toHaveLength(1);
    // However many requests the redeliveries made, they are one delivery to the receiver.
    const received = await hook.received();
    expect(received.length).toBeGreaterThan(0);
    expect(new Set(received.map((request) => request.headers["webhook-id"]))).toEqual(new Set([delivery?.id]));
  });

  it("an event whose project was purged meanwhile is acked, named in words, and told to whom it names", async () => {
    const [owner, admin, invitee] = [await newUser(), await newUser(), await newUser()];
    const project = await projectWith({ [owner]: "owner", [admin]: "admin" });
    await purge(project.id);
    const common = { requestId: "req-purged", projectId: project.id };
    // Invited by someone whose account is gone too.
    const invited = buildEvent(MemberInvitedSchema, {
      ...common,
      type: "project.member_invited",
      actorId: crypto.randomUUID(),
      userId: invitee,
      role: "editor",
      invitationId: crypto.randomUUID(),
    });
    const joined = buildEvent(MemberJoinedSchema, {
      ...common,
      type: "project.member_joined",
      actorId: invitee,
      userId: invitee,
      role: "editor",
    });
    const moved = buildEvent(DocumentMovedSchema, {
      ...common,
      type: "document.moved",
      actorId: owner,
      documentId: crypto.randomUUID(),
      fromProjectId: null,
      toProjectId: project.id,
      previousOwnerId: owner,
      title: "Moved",
    });
    // And one for a user who no longer exists: refused alone, the others stored.
    const nobody = buildEvent(MemberInvitedSchema, {
      ...common,
      type: "project.member_invited",
      actorId: owner,
      userId: crypto.randomUUID(),
      role: "viewer",
      invitationId: crypto.randomUUID(),
    });

    const { ids, result } = await deliver("document-events", [invited, joined, moved, nobody]);
    expect(result.explicitAcks).toEqual(ids);
    expect(result.retryMessages).toEqual([]);

    const rows = await notificationsOf(invitee);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      eventId: invited.id,
      type: "project.member_invited",
      title: "Someone invited you to a project",
      body: "Someone invited you to a project as editor.",
      data: { projectId: project.id, projectSlug: null, invitationId: invited.invitationId },
    });
    // Its managers went with it: nobody hears of the join or the move.
    expect(await notificationsOf(owner)).toEqual([]);
    expect(await notificationsOf(admin)).toEqual([]);
  });
});
