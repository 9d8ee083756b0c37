import { describe, expect, it } from "vitest";
import { signedIn, uniqueName } from "../auth-helpers.ts";
import { type DocumentJson, rawUpload } from "../document-helpers.ts";
import { eventually, testEnv } from "../helpers.ts";
import {
  accept,
  createProject,
  expectJson,
  type InvitationJson,
  invite,
  memberOf,
  removeMember,
  send,
  setRole,
  type User,
} from "../project-helpers.ts";

// The Project Service's events end to end: a route publishes them on the API's event bus (the
// document-events queue), the processor running beside the API worker hands them to the
// Notification Service, which stores in-app notifications (GET /notifications) and sends signed
// webhook deliveries to the stack's real HTTP receiver. Redeliveries and events that outlive their
// project: test/processor/project-notifications.test.ts; recipients and text:
// test/unit/project-notifications.test.ts.
//
// Absence is checked only once a notification of the same event has arrived for someone else:
// every person an event concerns is stored in one transaction, so no wait is left to chance.

interface NotificationJson {
  id: string;
  type: string;
  title: string;
  body: string;
  data: Record<string, unknown>;
  read: boolean;
}

type Kind =
  | "project.member_invited"
  | "project.member_joined"
  | "project.member_removed"
  | "project.member_role_changed"
  | "document.moved";

/** The user's notifications (the newest hundred). */
const inbox = async (who: User) =>
  (await expectJson<{ data: NotificationJson[] }>(await send(who.auth, "GET", "/notifications?limit=100"), 200)).data;

/** Those of `kind` whose data has every field of `about`. */
const matching = (notifications: NotificationJson[], kind: Kind, about: Record<string, unknown>) =>
  notifications.filter(
    (n) => n.type === kind && Object.entries(about).every(([field, value]) => n.data[field] === value),
  );

/** Waits for the one notification of `kind` about `about` to reach `who`. */
async function notified(who: User, kind: Kind, about: Record<string, unknown>): Promise<NotificationJson> {
  const found = await eventually(async () => {
    const rows = matching(await inbox(who), kind, about);
    return rows.length > 0 ? rows : undefined;
  });
  expect(found).toHaveLength(1);
  const [notification] = found;
  if (!notification) throw new Error("unreachable");
  return notification;
}

/** `who` has no notification of `kind` about `about` (call once someone else got theirs). */
async function notNotified(who: User, kind: Kind, about: Record<string, unknown>): Promise<void> {
  expect(matching(await inbox(who), kind, about)).toEqual([]);
}

describe("invitations", () => {
  it("the invitee is told who invited them to which project, as what; the inviter is told nothing", async () => {
    const [owner, invitee] = await Promise.all([signedIn(), signedIn()]);
    const project = await createProject(owner.auth);
    const invitation = await invite(owner.auth, project.id, invitee.user.username, "editor");

    const notification = await notified(invitee, "project.member_invited", { invitationId: invitation.id });
    expect(notification).toMatchObject({
      title: `${owner.user.username} invited you to “${project.name}”`,
      body: `${owner.user.username} invited you to “${project.name}” as editor.`,
      read: false,
      data: {
        projectId: project.id,
        projectSlug: project.slug,
        invitationId: invitation.id,
        userId: invitee.user.id,
        actorId: owner.user.id,
        role: "editor",
      },
    });
    // The inviting request's id travels in the event to the processor's log lines (asserted in
    // test/processor/project-notifications.test.ts), not into what the user reads.
    expect(await inbox(owner)).toEqual([]);
  });
});

describe("members", () => {
  /** An owner's project with a second owner, an admin, an editor and a viewer. */
  async function staffed() {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const [coOwner, admin, editor, viewer] = await Promise.all([
      memberOf(owner.auth, project.id, "owner"),
      memberOf(owner.auth, project.id, "admin"),
      memberOf(owner.auth, project.id, "editor"),
      memberOf(owner.auth, project.id, "viewer"),
    ]);
    return { project, owner, coOwner, admin, editor, viewer };
  }

  it("accepting: the owners and admins hear who joined, as what; the joiner and the others do not", async () => {
    const { project, owner, coOwner, admin, editor } = await staffed();
    const joiner = await signedIn();
    const invitation = await invite(admin.auth, project.id, joiner.user.username, "viewer");
    await expectJson(await accept(joiner.auth, invitation.id), 200);

    const about = { userId: joiner.user.id, projectId: project.id };
    for (const manager of [owner, coOwner, admin]) {
      expect(await notified(manager, "project.member_joined", about)).toMatchObject({
        title: `${joiner.user.username} joined “${project.name}”`,
        body: `${joiner.user.username} joined “${project.name}” as viewer.`,
        data: { actorId: joiner.user.id, role: "viewer", projectSlug: project.slug },
      });
    }
    await notNotified(joiner, "project.member_joined", about);
    await notNotified(editor, "project.member_joined", about);
  });

  it("leaving: the owners and admins hear who left; the one who left and the others do not", async () => {
    const { project, owner, coOwner, admin, editor, viewer } = await staffed();
    expect((await removeMember(editor.auth, project.id, editor.user.id)).status).toBe(204);

    const about = { userId: editor.user.id, projectId: project.id };
    for (const manager of [owner, coOwner, admin]) {
      expect(await notified(manager, "project.member_removed", about)).toMatchObject({
        title: `${editor.user.username} left “${project.name}”`,
        body: `${editor.user.username} left “${project.name}”.`,
        data: { actorId: editor.user.id },
      });
    }
    await notNotified(editor, "project.member_removed", about);
    await notNotified(viewer, "project.member_removed", about);
  });

  it("removal by an admin: the member removed hears who removed them; nobody else does", async () => {
    const { project, owner, admin, viewer } = await staffed();
    expect((await removeMember(admin.auth, project.id, viewer.user.id)).status).toBe(204);

    const about = { userId: viewer.user.id, projectId: project.id };
    expect(await notified(viewer, "project.member_removed", about)).toMatchObject({
      title: `Removed from “${project.name}”`,
      body: `${admin.user.username} removed you from “${project.name}”.`,
      data: { actorId: admin.user.id },
    });
    await notNotified(owner, "project.member_removed", about);
    await notNotified(admin, "project.member_removed", about);
  });

  it("a role change: the member hears it, from which role to which", async () => {
    const { project, owner, admin, editor } = await staffed();
    expect((await setRole(admin.auth, project.id, editor.user.id, "admin")).status).toBe(200);

    const about = { userId: editor.user.id, projectId: project.id };
    expect(await notified(editor, "project.member_role_changed", about)).toMatchObject({
      title: `Your role in “${project.name}” changed`,
      body: `${admin.user.username} changed your role in “${project.name}” from editor to admin.`,
      data: { actorId: admin.user.id, previousRole: "editor", role: "admin" },
    });
    await notNotified(owner, "project.member_role_changed", about);
    await notNotified(admin, "project.member_role_changed", about);
  });

  it("a transfer: the new owner hears it; the old owner, who made it, is not told of their own step down", async () => {
    const { project, owner, coOwner, editor } = await staffed();
    const res = await send(owner.auth, "POST", `/projects/${project.id}/transfer`, { userId: editor.user.id });
    expect(res.status).toBe(200);

    const about = { userId: editor.user.id, projectId: project.id };
    expect(await notified(editor, "project.member_role_changed", about)).toMatchObject({
      body: `${owner.user.username} changed your role in “${project.name}” from editor to owner.`,
      data: { actorId: owner.user.id, previousRole: "editor", role: "owner" },
    });
    // The other side of the transfer is an event of its own (owner → admin), about its author.
    expect(matching(await inbox(owner), "project.member_role_changed", { projectId: project.id })).toEqual([]);
    await notNotified(coOwner, "project.member_role_changed", about);
  });
});

describe("moving a document", () => {
  it("between projects: its uploader and the destination's owners and admins hear it; the mover does not", async () => {
    const owner = await signedIn();
    const [from, to] = await Promise.all([createProject(owner.auth), createProject(owner.auth)]);
    const [uploader, fromAdmin, toAdmin, toEditor] = await Promise.all([
      memberOf(owner.auth, from.id, "editor"),
      memberOf(owner.auth, from.id, "admin"),
      memberOf(owner.auth, to.id, "admin"),
      memberOf(owner.auth, to.id, "editor"),
    ]);
    const title = uniqueName("Plan");
    const document = await expectJson<DocumentJson>(
      await rawUpload(uploader.auth, "a plan to move", "text/plain", {
        path: `/documents?${new URLSearchParams({ projectId: from.id, title })}`,
      }),
      201,
    );
    const moved = await send(owner.auth, "POST", `/documents/${document.id}/move`, { projectId: to.id });
    expect(moved.status).toBe(200);

    const about = { documentId: document.id, projectId: to.id, fromProjectId: from.id, toProjectId: to.id };
    expect(await notified(toAdmin, "document.moved", about)).toMatchObject({
      title: `“${title}” moved to “${to.name}”`,
      body: `${owner.user.username} moved “${title}” to “${to.name}”.`,
      data: { actorId: owner.user.id, projectSlug: to.slug },
    });
    // The uploader is no member where it went: told it left the project they know, not where it went.
    expect(await notified(uploader, "document.moved", about)).toMatchObject({
      title: `“${title}” left “${from.name}”`,
      body: `${owner.user.username} moved “${title}” out of “${from.name}”.`,
      data: { actorId: owner.user.id, projectSlug: null },
    });
    await notNotified(owner, "document.moved", about);
    await notNotified(toEditor, "document.moved", about);
    // The project it left is not the one the event is about.
    await notNotified(fromAdmin, "document.moved", about);
  });

  it("out of a project into its mover's personal documents: its uploader, who loses it, hears it", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const [uploader, admin] = await Promise.all([
      memberOf(owner.auth, project.id, "editor"),
      memberOf(owner.auth, project.id, "admin"),
    ]);
    const title = uniqueName("Taken");
    const document = await expectJson<DocumentJson>(
      await rawUpload(uploader.auth, "taken out", "text/plain", {
        path: `/documents?${new URLSearchParams({ projectId: project.id, title })}`,
      }),
      201,
    );
    expect((await send(admin.auth, "POST", `/documents/${document.id}/move`, { projectId: null })).status).toBe(200);
    const about = { documentId: document.id, toProjectId: null, previousOwnerId: uploader.user.id };
    expect(await notified(uploader, "document.moved", about)).toMatchObject({
      title: `“${title}” left “${project.name}”`,
    });
    await notNotified(admin, "document.moved", about);
  });
});

describe("webhooks", () => {
  /** A receiver of the test stack (stack/control.ts): its URL and what it got. */
  function receiver() {
    const url = `${testEnv.CONTROL_URL}/hooks/project-${crypto.randomUUID().slice(0, 8)}`;
    return {
      url,
      received: async () => (await (await fetch(url)).json()) as { headers: Record<string, string>; body: string }[],
      echoNextChallenge: () =>
        fetch(`${url}/answers`, { method: "PUT", body: JSON.stringify([{ status: 200, echoChallenge: true }]) }),
    };
  }

  /** A webhook of `who` at `sink` for `events`, verified (its endpoint echoed the challenge). */
  async function verifiedWebhook(who: User, sink: ReturnType<typeof receiver>, events: string[]) {
    const hook = await expectJson<{ id: string; secret: string }>(
      await send(who.auth, "POST", "/webhooks", { url: sink.url, events }),
      201,
    );
    await sink.echoNextChallenge();
    await expectJson(await send(who.auth, "POST", `/webhooks/${hook.id}/verify`), 200);
    return hook;
  }

  /** Verifies a Standard Webhooks signature independently of the code under test. */
  async function signedWith(secret: string, headers: Record<string, string>, body: string): Promise<boolean> {
    const key = await crypto.subtle.importKey(
      "raw",
      Uint8Array.from(atob(secret.replace(/^whsec_/, "")), (c) => c.charCodeAt(0)),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const mac = new Uint8Array(
      await crypto.subtle.sign(
        "HMAC",
        key,
        new TextEncoder().encode(`${headers["webhook-id"]}.${headers["webhook-timestamp"]}.${body}`),
      ),
    );
    const expected = `v1,${btoa(String.fromCharCode(...mac))}`;
    return (headers["webhook-signature"] ?? "").split(" ").includes(expected);
  }

  it("a webhook subscribed to project.member_invited gets a signed delivery of the invitation; one for document.ready gets nothing", async () => {
    const [owner, invitee] = await Promise.all([signedIn(), signedIn()]);
    const [invitations, ready] = [receiver(), receiver()];
    const subscribed = await verifiedWebhook(invitee, invitations, ["project.member_invited"]);
    const other = await verifiedWebhook(invitee, ready, ["document.ready"]);
    const project = await createProject(owner.auth);
    const invitation: InvitationJson = await invite(owner.auth, project.id, invitee.user.username, "viewer");

    // After the verification challenge, the delivery.
    const [, delivery] = await eventually(async () => {
      const received = await invitations.received();
      return received.length > 1 ? received : undefined;
    });
    if (!delivery) throw new Error("nothing delivered");
    expect(await signedWith(subscribed.secret, delivery.headers, delivery.body)).toBe(true);
    expect(await signedWith(other.secret, delivery.headers, delivery.body)).toBe(false);
    const notification = await notified(invitee, "project.member_invited", { invitationId: invitation.id });
    expect(JSON.parse(delivery.body)).toEqual({
      type: "project.member_invited",
      timestamp: expect.any(String),
      data: {
        id: notification.id,
        title: notification.title,
        body: notification.body,
        ...notification.data,
      },
    });
    const deliveries = await expectJson<{ data: { id: string; notificationType: string }[] }>(
      await send(invitee.auth, "GET", `/webhooks/${subscribed.id}/deliveries`),
      200,
    );
    expect(deliveries.data).toMatchObject([
      { id: delivery.headers["webhook-id"], notificationType: "project.member_invited" },
    ]);

    // Queued in the same transaction as the other's would have been: none, and nothing but its challenge.
    const none = await expectJson<{ data: unknown[] }>(
      await send(invitee.auth, "GET", `/webhooks/${other.id}/deliveries`),
      200,
    );
    expect(none.data).toEqual([]);
    expect(await ready.received()).toHaveLength(1);
  });
});
