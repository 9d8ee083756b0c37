import { batchAsActor, SYSTEM } from "../../db/actor.ts";
import { type ProjectEventNames, selectProjectEventNames } from "../../db/queries/project-events.ts";
import type { NotificationRequested, ProjectEvent } from "../../pkg/queue/events.ts";
import type { ProcessorServices, StepResult } from "../context.ts";
import type { BatchEvent } from "../handle-batch.ts";
import { storeAll } from "./handlers.ts";

// The Notification Service's side of the Project Service's events: who is concerned, and what they
// read. One in-app notification per person (and their subscribed webhooks' deliveries), stored
// through the same intake as every notification (`storeAll`), so a redelivered event stores nothing
// twice (one notification per event and user).

/** A name in quotes, or the words for it when it is gone (unquoted: they are not its name). */
const quoted = (value: string | null, fallback: string) => (value === null ? fallback : `“${value}”`);

/**
 * The people an event concerns, never the one who acted:
 * - invited: the invitee; role changed: the member;
 * - joined: the project's owners and admins; removed: the member removed, or, when they left, the
 *   owners and admins;
 * - document moved: its owner (uploader) before and after the move, and the owners and admins of
 *   the project it is in now (of
 *   the one it left, when it became someone's personal document).
 */
export function recipientsOf(event: ProjectEvent, names: ProjectEventNames): string[] {
  let people: (string | null)[];
  switch (event.type) {
    case "project.member_invited":
    case "project.member_role_changed":
      people = [event.userId];
      break;
    case "project.member_joined":
      people = names.managers;
      break;
    case "project.member_removed":
      people = event.userId === event.actorId ? names.managers : [event.userId];
      break;
    case "document.moved":
      people = [event.previousOwnerId, names.document_owner, ...names.managers];
      break;
  }
  return [...new Set(people.filter((id): id is string => id !== null && id !== event.actorId))];
}

/**
 * The notification's title and body for `event`, as `recipient` reads it. A document moved to a
 * project the recipient is not a member of is told as leaving the project it was in: where it went
 * is not theirs to know.
 */
export function textOf(
  event: ProjectEvent,
  names: ProjectEventNames,
  recipient?: string,
): { title: string; body: string } {
  const project = quoted(names.project_name, "a project");
  const actor = names.actor_username ?? "Someone";
  // Both begin a sentence wherever they are used.
  const member = names.user_username ?? "A member";
  switch (event.type) {
    case "project.member_invited":
      return {
        title: `${actor} invited you to ${project}`,
        body: `${actor} invited you to ${project} as ${event.role}.`,
      };
    case "project.member_joined":
      return { title: `${member} joined ${project}`, body: `${member} joined ${project} as ${event.role}.` };
    case "project.member_removed":
      return event.userId === event.actorId
        ? { title: `${member} left ${project}`, body: `${member} left ${project}.` }
        : { title: `Removed from ${project}`, body: `${actor} removed you from ${project}.` };
    case "project.member_role_changed":
      return {
        title: `Your role in ${project} changed`,
        body: `${actor} changed your role in ${project} from ${event.previousRole} to ${event.role}.`,
      };
    case "document.moved": {
      // Its title as it was when it moved; it begins the notification's title.
      const subject = quoted(event.title, "A document");
      const object = quoted(event.title, "a document");
      if (!event.toProjectId) {
        return { title: `${subject} left ${project}`, body: `${actor} moved ${object} out of ${project}.` };
      }
      if (recipient !== undefined && !names.members.includes(recipient)) {
        const from = quoted(names.from_project_name, "a project");
        return { title: `${subject} left ${from}`, body: `${actor} moved ${object} out of ${from}.` };
      }
      return { title: `${subject} moved to ${project}`, body: `${actor} moved ${object} to ${project}.` };
    }
  }
}

/**
 * The data a notification (and its webhook payload) carries: the event's ids, as they are, and the
 * project's slug for those who are its members (or were told of it: an invitee).
 */
function dataOf(event: ProjectEvent, names: ProjectEventNames, recipient: string): Record<string, unknown> {
  const { id: _id, type: _type, requestId: _requestId, occurredAt: _at, version: _version, ...ids } = event;
  const outsider = event.type === "document.moved" && event.toProjectId !== null && !names.members.includes(recipient);
  return outsider ? { ...ids, projectSlug: null } : { ...ids, projectSlug: names.project_slug };
}

/**
 * Notifies the people concerned by each project event of a batch: per event one HTTP round trip for
 * the names and members (all in parallel), then every notification of the batch in one `storeAll`.
 * One result per event, in order: an event is done when each of its notifications is, retried when
 * any is or its names could not be read (its redelivery stores only what is missing).
 */
export async function notifyProjectEvents(
  events: readonly BatchEvent<ProjectEvent>[],
  services: ProcessorServices,
): Promise<StepResult[]> {
  // Each event's names on their own: one that fails retries that event only.
  const named = await Promise.allSettled(
    events.map(async ({ event }) => {
      const [result] = await batchAsActor(services.database.http, SYSTEM, (db) => [
        selectProjectEventNames(db, {
          projectId: event.projectId,
          actorId: event.actorId,
          userId: "userId" in event ? event.userId : null,
          documentId: event.type === "document.moved" ? event.documentId : null,
          fromProjectId: event.type === "document.moved" ? event.fromProjectId : null,
        }),
      ]);
      const names = result.rows[0];
      if (!names) throw new Error("the names query returned no row");
      return names;
    }),
  );
  // Each event's requests, kept apart: a copy of an event in the same batch (a redelivery) shares its
  // id, so the results of one event cannot be told by id.
  const perEvent = named.map((outcome, i) => {
    const event = events[i]?.event;
    if (outcome.status === "rejected" || !event) return [];
    const names = outcome.value;
    return recipientsOf(event, names).map((userId): NotificationRequested => {
      const { title, body } = textOf(event, names, userId);
      return {
        id: event.id,
        type: "notification.requested",
        requestId: event.requestId,
        occurredAt: event.occurredAt,
        version: 1,
        userId,
        kind: event.type,
        title: title.slice(0, 255),
        body: body.slice(0, 2000),
        data: dataOf(event, names, userId),
      };
    });
  });
  const stored = await storeAll(perEvent.flat(), services);
  let next = 0;
  return perEvent.map((requests, i) => {
    const outcome = named[i];
    if (outcome?.status === "rejected") {
      const reason = outcome.reason instanceof Error ? outcome.reason.message : String(outcome.reason);
      return { outcome: "retry", reason };
    }
    const own = stored.slice(next, next + requests.length);
    next += requests.length;
    const retry = own.find((result) => result.outcome === "retry");
    return retry ?? { outcome: "done", note: `${own.length} people notified` };
  });
}
