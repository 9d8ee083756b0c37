import { type SQL, sql } from "drizzle-orm";
import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { actAs, firstRow, SYSTEM } from "../../db/actor.ts";
import {
  confirmProjectStorage,
  confirmStorage,
  documentUsage,
  moveDocumentStatement,
  selectDocumentAudience,
} from "../../db/queries/documents.ts";
import { quotaRefusal } from "../../documents/quota.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { VALIDATOR_HEADERS } from "../conditional.ts";
import { jsonBody, jsonResponse, protectedRoute } from "../openapi.ts";
import { projectAllowing } from "../projects/access.ts";
import { announce } from "../projects/announce.ts";
import { managed } from "./access.ts";
import { documentBody } from "./preconditions.ts";
import { DocumentIdParams, DocumentSchema, MoveDocumentSchema } from "./schemas.ts";
import { audienceChanged } from "./search-changes.ts";

const route = protectedRoute(
  "caller",
  {
    method: "post",
    path: "/documents/{id}/move",
    tags: ["Documents"],
    summary: "Move a document to a project, or to my personal documents",
    description:
      "Who manages the document where it is (the owner of a personal document, an owner or admin of its project, an administrator) moves it to a project where they are an editor or more (neither archived), or, with `projectId: null`, to their own personal documents (they become its owner). Its versions, shares and history move with it; access follows the new place at once. Moving it where it already is changes nothing (200). It counts against the quota of where it goes: a project's (413 past `PROJECT_QUOTA_BYTES`), or the mover's own (403 `quota_exceeded`).",
    request: { params: DocumentIdParams, body: jsonBody(MoveDocumentSchema) },
    responses: {
      200: { ...jsonResponse("The document where it is now.", DocumentSchema), headers: VALIDATOR_HEADERS },
      ...problemResponses(400, 403, 404, 409, 413, 415, 503),
    },
  },
  { projectKeys: "row-level-security" },
);

export const moveDocument = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  const { projectId } = c.req.valid("json");
  const caller = callerOf(c);
  const before = await managed(
    c,
    id,
    "Only the owner of a personal document, or an owner or admin of its project, moves it.",
  );
  if (projectId !== null) await projectAllowing(c, projectId, "write");
  if (before.projectId === projectId) {
    const response = await documentBody(before);
    return c.json(response.body, 200, response.headers);
  }
  const limits = c.get("services").config.uploads;
  const usage = documentUsage(id);
  // Counted only when it arrived: a move that moved nothing (refused by row-level security, or
  // done by someone else meanwhile) adds nothing to check.
  const arrived =
    projectId === null
      ? sql`exists (select 1 from documents d where d.id = ${id} and d.project_id is null and d.owner_id = ${caller.userId})`
      : sql`exists (select 1 from documents d where d.id = ${id} and d.project_id = ${projectId})`;
  const ifArrived = (value: SQL) => sql`(case when ${arrived} then ${value} else 0 end)`;
  // Who saw it before and who sees it after, both read as the system around the caller's write;
  // last, the quota of where it went, counting it (a project's, or the mover's own).
  const [, audienceBefore, , moved, , audienceAfter] = await asCaller(c)
    .write((db) => [
      actAs(db, SYSTEM),
      selectDocumentAudience(db, { documentId: id }),
      actAs(db, caller.actor),
      moveDocumentStatement(db, { id, projectId, movedBy: caller.userId }),
      actAs(db, SYSTEM),
      selectDocumentAudience(db, { documentId: id }),
      projectId
        ? confirmProjectStorage(db, {
            projectId,
            needBytes: ifArrived(usage.bytes),
            limitBytes: limits.projectQuotaBytes,
          })
        : confirmStorage(db, {
            ownerId: caller.userId,
            need: { documents: ifArrived(sql`1`), versions: ifArrived(usage.versions), bytes: ifArrived(usage.bytes) },
            limits: limits.quota,
          }),
    ])
    .catch((error: unknown) => {
      throw quotaRefusal(error) ?? error;
    });
  if (!firstRow(moved)) {
    // Nothing moved: the caller's rights or the document changed meanwhile. Told as it is now.
    const now = await managed(
      c,
      id,
      "Only the owner of a personal document, or an owner or admin of its project, moves it.",
    );
    if (now.projectId !== projectId) {
      throw new ApiError("conflict", { detail: `The document ${id} changed meanwhile and was not moved; retry.` });
    }
    const response = await documentBody(now);
    return c.json(response.body, 200, response.headers);
  }
  const document = firstRow(moved) ?? before;
  // A move involves a project at one end at least: the event belongs to it (the one it went to).
  const eventProject = projectId ?? before.projectId;
  if (firstRow(moved) && eventProject) {
    const event = {
      documentId: id,
      fromProjectId: before.projectId,
      toProjectId: projectId,
      previousOwnerId: before.ownerId,
      title: before.title,
    };
    await Promise.all([
      audienceChanged(c, [...audienceBefore, ...audienceAfter]),
      announce(c, [{ type: "document.moved", projectId: eventProject, ...event }]),
    ]);
  }
  const response = await documentBody(document);
  return c.json(response.body, 200, response.headers);
});
