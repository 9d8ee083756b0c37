import { sql } from "drizzle-orm";
import type { HttpQueryBuilder } from "../client.ts";

// What the Notification Service needs to tell the people concerned about a project event: names
// for its text and who they are. Read as the system (the users table, every member).

/** The names an event's notification shows: project, acting user, member concerned, document. */
export type ProjectEventNames = {
  project_name: string | null;
  project_slug: string | null;
  actor_username: string | null;
  user_username: string | null;
  document_title: string | null;
  /** Owners and admins of the project (user ids), now. */
  managers: string[];
  /** Every member of the project (user ids), now: who may read where a document went. */
  members: string[];
  /** The name of the project a moved document left, if any. */
  from_project_name: string | null;
  /** The document's owner (its uploader), if the event names a document. */
  document_owner: string | null;
};

/**
 * The names and managers for one event, one row. `projectId` may be a project deleted since (its
 * name is still shown); `userId` and `documentId` may be null.
 */
export function selectProjectEventNames(
  db: HttpQueryBuilder,
  params: {
    projectId: string;
    actorId: string;
    userId: string | null;
    documentId: string | null;
    fromProjectId: string | null;
  },
) {
  return db.execute<ProjectEventNames>(sql`
    select
      (select p.name from projects p where p.id = ${params.projectId}) as project_name,
      (select p.slug from projects p where p.id = ${params.projectId}) as project_slug,
      (select u.username from users u where u.id = ${params.actorId}) as actor_username,
      (select u.username from users u where u.id = ${params.userId}::uuid) as user_username,
      (select d.title from documents d where d.id = ${params.documentId}::uuid) as document_title,
      array(select m.user_id::text from project_members m
             where m.project_id = ${params.projectId} and m.role in ('owner', 'admin')
             order by m.user_id) as managers,
      array(select m.user_id::text from project_members m where m.project_id = ${params.projectId} order by m.user_id) as members,
      (select p.name from projects p where p.id = ${params.fromProjectId}::uuid) as from_project_name,
      (select d.owner_id::text from documents d where d.id = ${params.documentId}::uuid) as document_owner`);
}
