import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import { createRouter } from "../../app/create-app.ts";
import { endShare, grantShare, type RequireSharesUnchanged, type Share, sharesOf } from "../../documents/shares.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import {
  ConditionalReadHeaders,
  ConditionalWriteHeaders,
  readPreconditions,
  requireWritePreconditions,
  validatorHeaders,
  validatorsOf,
} from "../conditional.ts";
import { jsonBody, jsonResponse, protectedRoute } from "../openapi.ts";
import { managed } from "./access.ts";
import {
  DocumentIdParams,
  ShareAcceptedSchema,
  ShareParams,
  ShareRequestSchema,
  ShareSchema,
  toShareJson,
} from "./schemas.ts";
import { searchChanged } from "./search-changes.ts";

// Who a document is shared with: the list, a share granted or changed, a share ended.

const SHARES_ETAG = {
  ETag: {
    description: "Strong entity tag of the shares list; send it in If-Match to change the shares conditionally.",
    schema: { type: "string" as const },
  },
};

const MANAGES_SHARING =
  "Only the owner of a personal document, an owner or admin of its project, or an administrator manages sharing.";

/** The shares list's validators: a strong ETag of the list as GET sends it (shares keep no date). */
const sharesValidators = (list: Share[]) => validatorsOf({ data: list.map(toShareJson) });

/** The request's If-Match, checked against the shares list as it is under the shares lock (412 otherwise). */
const sharesUnchangedSince =
  (c: Context<AppEnv>): RequireSharesUnchanged =>
  async (list) =>
    requireWritePreconditions(c, await sharesValidators(list));

const listRoute = protectedRoute(
  "caller",
  {
    method: "get",
    path: "/documents/{id}/shares",
    tags: ["Documents"],
    summary: "Who the document is shared with (owner or admin)",
    description:
      "With a strong `ETag` of the list (shares keep no modification date, so no Last-Modified), for conditional changes of the shares; `If-None-Match` answers 304.",
    request: { params: DocumentIdParams, headers: ConditionalReadHeaders },
    responses: {
      200: { ...jsonResponse("Shares.", z.object({ data: z.array(ShareSchema) })), headers: SHARES_ETAG },
      304: { description: "Unchanged (If-None-Match).", headers: SHARES_ETAG },
      ...problemResponses(400, 403, 404, 409, 412, 503),
    },
  },
  { projectKeys: "row-level-security" },
);

const listShareGrants = createRouter().openapi(listRoute, async (c) => {
  const { id } = c.req.valid("param");
  await managed(c, id, MANAGES_SHARING, { evenArchived: true });
  const list = await sharesOf(c.get("services").database, id);
  const validators = await sharesValidators(list);
  const notModified = readPreconditions(c, validators);
  if (notModified) return notModified;
  return c.json({ data: list.map(toShareJson) }, 200, validatorHeaders(validators));
});

const putRoute = protectedRoute(
  "caller",
  {
    method: "put",
    path: "/documents/{id}/shares",
    tags: ["Documents"],
    summary: "Share with a user for reading or writing (owner or admin)",
    description:
      "By email address or username. The answer is the same whether or not that names an active account, and never carries the account's username (OWASP ASVS V2.2 / account enumeration): an address without an account, a disabled account or the owner's own address change nothing. With `If-Match` (the ETag of `GET /documents/{id}/shares`), only if the shares have not changed since: otherwise 412 and nothing changes.",
    request: { params: DocumentIdParams, headers: ConditionalWriteHeaders, body: jsonBody(ShareRequestSchema) },
    responses: {
      200: jsonResponse(
        "Taken: the request as understood. The same whether or not the address or username names an active account (nor is its username disclosed); the account, if any, can read or write the document from now on.",
        ShareAcceptedSchema,
      ),
      ...problemResponses(400, 403, 404, 409, 412, 415, 503),
    },
  },
  // Sharing by address: bounded, so addresses cannot be tried in bulk (ASVS V2.2).
  { rateLimit: "sharing", projectKeys: "row-level-security" },
);

const grantDocumentShare = createRouter().openapi(putRoute, async (c) => {
  const { id } = c.req.valid("param");
  const body = c.req.valid("json");
  const document = await managed(c, id, MANAGES_SHARING);
  const { userId, actor } = callerOf(c);
  const sharedWith = await grantShare(
    c.get("services").database,
    actor,
    { document, login: body.user, access: body.access, grantedBy: userId },
    sharesUnchangedSince(c),
  );
  // Invalidated either way, so that the two paths also take about the same time.
  await searchChanged(c, id, sharedWith ? [sharedWith] : []);
  return c.json({ user: body.user, access: body.access }, 200);
});

const deleteRoute = protectedRoute(
  "caller",
  {
    method: "delete",
    path: "/documents/{id}/shares/{userId}",
    tags: ["Documents"],
    summary: "Stop sharing with a user (owner or admin; or that user, to leave)",
    description:
      "With `If-Match` (the ETag of `GET /documents/{id}/shares`), only if the shares have not changed since: otherwise 412 and nothing changes.",
    request: { params: ShareParams, headers: ConditionalWriteHeaders },
    responses: { 204: { description: "Not shared any more." }, ...problemResponses(400, 403, 404, 409, 412, 503) },
  },
  { projectKeys: "row-level-security" },
);

const endDocumentShare = createRouter().openapi(deleteRoute, async (c) => {
  const { id, userId } = c.req.valid("param");
  // As PUT answers: someone who can read the document but does not manage it is told so.
  await managed(
    c,
    id,
    "Only the owner of a personal document, an owner or admin of its project, or an administrator manages sharing; you may only leave.",
    {
      unless: userId,
      evenArchived: true,
    },
  );
  const share = { documentId: id, userId };
  const removed = await endShare(c.get("services").database, callerOf(c).actor, share, sharesUnchangedSince(c));
  if (!removed) throw new ApiError("not_found", { detail: `No share of ${id} with ${userId}.` });
  await searchChanged(c, id, [userId]);
  return c.body(null, 204);
});

/** `/documents/{id}/shares`: list, grant or change, end (its managers: the owner of a personal document, an owner or admin of its project, an administrator; a user may leave). */
export const manageShares = createRouter()
  .route("/", listShareGrants)
  .route("/", grantDocumentShare)
  .route("/", endDocumentShare);
