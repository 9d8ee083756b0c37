import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import { callerOf } from "../../gateway/authentication.ts";
import type { ProjectEvent } from "../../pkg/queue/events.ts";
import { invalidateScopes, scopeOf } from "../../search/search-cache.ts";

/** A project event as a route states it: what happened; the envelope, the actor and the request id are added. */
type ProjectEventInput = ProjectEvent extends infer E
  ? E extends ProjectEvent
    ? Omit<E, "id" | "occurredAt" | "version" | "requestId" | "actorId">
    : never
  : never;

/**
 * After a committed change of a project: the cached searches of `affected` (users whose readable
 * documents changed: who joined, left or was removed) are made stale, and `events` are published
 * on the event bus for the Notification Service. Never throws: the change is committed and
 * recorded in the project's activity; a queue that is down costs the notifications only (logged),
 * a cache that is down leaves entries to their TTL.
 */
export async function announce(
  c: Context<AppEnv>,
  events: readonly ProjectEventInput[],
  affected: readonly string[] = [],
): Promise<void> {
  const { events: bus, cache } = c.get("services");
  const logger = c.get("logger");
  const { userId } = callerOf(c);
  const requestId = c.get("requestId");
  await Promise.all([
    affected.length > 0
      ? invalidateScopes(
          { cache, logger },
          affected.map((id) => scopeOf({ userId: id, readsAll: false })),
        )
      : undefined,
    ...events.map((event) =>
      bus.publish({ ...event, actorId: userId, requestId }).catch((error: unknown) => {
        logger.warn("project event not sent; nobody is notified of it", { type: event.type, error });
      }),
    ),
  ]);
}
