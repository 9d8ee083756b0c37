import { describe, expect, it } from "vitest";
import type { ProjectEventNames } from "../../src/db/queries/project-events.ts";
import {
  buildEvent,
  DocumentMovedSchema,
  MemberInvitedSchema,
  MemberJoinedSchema,
  MemberRemovedSchema,
  MemberRoleChangedSchema,
} from "../../src/pkg/queue/events.ts";
import { recipientsOf, textOf } from "../../src/processor/notifications/project-events.ts";

// Who hears of a project event and what they read (the Notification Service's side of the Project
// Service's events); the queue path is tested in test/processor/project-notifications.test.ts and
// test/api/project-notifications.test.ts.

const id = () => crypto.randomUUID();
const [projectId, otherProjectId, documentId] = [id(), id(), id()];
const [actor, member, owner, admin, uploader] = [id(), id(), id(), id(), id()];
const envelope = { requestId: "req-unit", projectId, actorId: actor };

const names = (overrides: Partial<ProjectEventNames> = {}): ProjectEventNames => ({
  project_name: "Apollo",
  project_slug: "apollo",
  actor_username: "alice",
  user_username: "bob",
  document_title: "Plan",
  managers: [owner, admin],
  members: [owner, admin, member, uploader],
  from_project_name: "Gemini",
  document_owner: null,
  ...overrides,
});

/** What a project that was purged meanwhile, and users gone too, leave to name. */
const gone: ProjectEventNames = {
  project_name: null,
  project_slug: null,
  actor_username: null,
  user_username: null,
  document_title: null,
  managers: [],
  members: [],
  from_project_name: null,
  document_owner: null,
};

const invited = buildEvent(MemberInvitedSchema, {
  ...envelope,
  type: "project.member_invited",
  userId: member,
  role: "editor",
  invitationId: crypto.randomUUID(),
});
const joined = buildEvent(MemberJoinedSchema, {
  ...envelope,
  actorId: member,
  type: "project.member_joined",
  userId: member,
  role: "viewer",
});
const left = buildEvent(MemberRemovedSchema, {
  ...envelope,
  actorId: member,
  type: "project.member_removed",
  userId: member,
});
const removed = buildEvent(MemberRemovedSchema, { ...envelope, type: "project.member_removed", userId: member });
const roleChanged = buildEvent(MemberRoleChangedSchema, {
  ...envelope,
  type: "project.member_role_changed",
  userId: member,
  role: "admin",
  previousRole: "editor",
});
const moved = (toProjectId: string | null, previousOwnerId = uploader) =>
  buildEvent(DocumentMovedSchema, {
    ...envelope,
    type: "document.moved",
    documentId,
    fromProjectId: toProjectId ? otherProjectId : projectId,
    toProjectId,
    previousOwnerId,
    title: "Plan",
  });

describe("recipientsOf", () => {
  it("the invitee, and the member whose role changed", () => {
    expect(recipientsOf(invited, names())).toEqual([member]);
    expect(recipientsOf(roleChanged, names())).toEqual([member]);
  });

  it("a join and a leave: the owners and admins, never the one who joined or left", () => {
    expect(recipientsOf(joined, names())).toEqual([owner, admin]);
    expect(recipientsOf(left, names())).toEqual([owner, admin]);
    // Left while still listed among the managers (read before the leave committed): not told of it.
    expect(recipientsOf(left, names({ managers: [owner, member] }))).toEqual([owner]);
  });

  it("a removal: the member removed, not the managers", () => {
    expect(recipientsOf(removed, names())).toEqual([member]);
  });

  it("a move: the uploader and the managers, each once, never the mover", () => {
    expect(recipientsOf(moved(projectId), names({ document_owner: uploader }))).toEqual([uploader, owner, admin]);
    expect(recipientsOf(moved(projectId, admin), names({ document_owner: admin }))).toEqual([admin, owner]);
    expect(recipientsOf(moved(projectId, actor), names({ document_owner: actor, managers: [actor, admin] }))).toEqual([
      admin,
    ]);
    // Taken out into the mover's personal documents: its uploader, no longer its owner, is told.
    expect(recipientsOf(moved(null), names({ document_owner: actor }))).toEqual([uploader, owner, admin]);
  });

  it("never the actor, whatever the event", () => {
    const self = buildEvent(MemberRoleChangedSchema, {
      ...envelope,
      type: "project.member_role_changed",
      userId: actor,
      role: "admin",
      previousRole: "owner",
    });
    expect(recipientsOf(self, names())).toEqual([]);
    expect(recipientsOf(joined, names({ managers: [member] }))).toEqual([]);
  });

  it("a project gone: only those the event names", () => {
    expect(recipientsOf(invited, gone)).toEqual([member]);
    expect(recipientsOf(joined, gone)).toEqual([]);
    expect(recipientsOf(moved(projectId), gone)).toEqual([uploader]);
  });
});

describe("textOf", () => {
  it("names the project, who acted and the roles", () => {
    expect(textOf(invited, names())).toEqual({
      title: "alice invited you to “Apollo”",
      body: "alice invited you to “Apollo” as editor.",
    });
    expect(textOf(joined, names())).toEqual({ title: "bob joined “Apollo”", body: "bob joined “Apollo” as viewer." });
    expect(textOf(left, names())).toEqual({ title: "bob left “Apollo”", body: "bob left “Apollo”." });
    expect(textOf(removed, names())).toEqual({
      title: "Removed from “Apollo”",
      body: "alice removed you from “Apollo”.",
    });
    expect(textOf(roleChanged, names())).toEqual({
      title: "Your role in “Apollo” changed",
      body: "alice changed your role in “Apollo” from editor to admin.",
    });
    expect(textOf(moved(projectId), names())).toEqual({
      title: "“Plan” moved to “Apollo”",
      body: "alice moved “Plan” to “Apollo”.",
    });
    expect(textOf(moved(null), names())).toEqual({
      title: "“Plan” left “Apollo”",
      body: "alice moved “Plan” out of “Apollo”.",
    });
  });

  it("does not tell where a document went to someone who is not a member there", () => {
    const outsider = id();
    expect(textOf(moved(projectId), names(), outsider)).toEqual({
      title: "“Plan” left “Gemini”",
      body: "alice moved “Plan” out of “Gemini”.",
    });
    expect(textOf(moved(projectId), names(), uploader).title).toBe("“Plan” moved to “Apollo”");
  });

  it("says what is gone in words, not as a quoted name", () => {
    expect(textOf(invited, gone)).toEqual({
      title: "Someone invited you to a project",
      body: "Someone invited you to a project as editor.",
    });
    expect(textOf(joined, gone)).toEqual({
      title: "A member joined a project",
      body: "A member joined a project as viewer.",
    });
    expect(textOf(left, gone)).toEqual({ title: "A member left a project", body: "A member left a project." });
    expect(textOf(removed, gone).body).toBe("Someone removed you from a project.");
    expect(textOf(roleChanged, gone)).toEqual({
      title: "Your role in a project changed",
      body: "Someone changed your role in a project from editor to admin.",
    });
    expect(textOf(moved(projectId), gone)).toEqual({
      title: "“Plan” moved to a project",
      body: "Someone moved “Plan” to a project.",
    });
    expect(textOf(moved(null), gone)).toEqual({
      title: "“Plan” left a project",
      body: "Someone moved “Plan” out of a project.",
    });
  });
});
