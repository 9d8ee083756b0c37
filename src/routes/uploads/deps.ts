import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import type { ResumableDeps } from "../../documents/resumable.ts";

/** What the resumable upload talks to (src/documents/resumable.ts): the request's services and the documents bucket's multipart uploads. */
export function resumableDeps(c: Context<AppEnv>): ResumableDeps {
  const { storage, database, events, config, multipart } = c.get("services");
  return {
    storage,
    database,
    events,
    logger: c.get("logger"),
    limits: config.uploads,
    requestId: c.get("requestId"),
    multipart,
  };
}
