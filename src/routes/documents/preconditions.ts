import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import type { Document } from "../../db/schema/documents.ts";
import type { RequireUnchanged } from "../../documents/rules.ts";
import { requireWritePreconditions, validatorHeaders, validatorsOf } from "../conditional.ts";
import { toDocumentJson } from "./schemas.ts";

/**
 * Whether the request makes its write conditional (RFC 9110 §13.1): then the write must read the
 * row, compare its validators (a hash computed here) and only then write, in one transaction
 * (`asCaller(c).transaction`); without, a write whose rule fits in its statement is one HTTP batch.
 */
export const conditionalWrite = (c: Context<AppEnv>): boolean =>
  ["if-match", "if-none-match", "if-unmodified-since"].some((name) => c.req.header(name) !== undefined);

/**
 * The validators of a document's metadata (RFC 9110 §8.8): a strong ETag of its JSON
 * representation, which carries `updatedAt` and the current version's state, so every change to
 * the row changes it; and `updatedAt` as Last-Modified.
 */
export const documentValidators = (document: Document) => validatorsOf(toDocumentJson(document), document.updatedAt);

/** The document's JSON with its validators, as every response naming the document sends it. */
export async function documentBody(document: Document) {
  return { body: toDocumentJson(document), headers: validatorHeaders(await documentValidators(document)) };
}

/**
 * The request's write preconditions (If-Match / If-Unmodified-Since) as the domain checks them on
 * the document it has locked: resolves when they hold for `current`'s validators, throws 412
 * `precondition_failed` otherwise (`requireWritePreconditions`).
 */
export const unchangedSince =
  (c: Context<AppEnv>): RequireUnchanged =>
  async (current) =>
    requireWritePreconditions(c, await documentValidators(current));
