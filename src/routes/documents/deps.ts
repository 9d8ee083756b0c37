import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import type { IntakeDeps, UploadInput } from "../../documents/intake.ts";
import { UploadFieldsSchema } from "./schemas.ts";

/**
 * What the upload saga, restoring and reprocessing talk to (src/documents/intake.ts, versions.ts):
 * the request's services, logger and id, with the upload limits of the configuration.
 */
export function intakeDeps(c: Context<AppEnv>): IntakeDeps {
  const { storage, database, events, config } = c.get("services");
  return { storage, database, events, logger: c.get("logger"), limits: config.uploads, requestId: c.get("requestId") };
}

/**
 * The upload the request carries: its body stream (read once, by the saga), the headers that
 * describe it, title and tags from the query (a raw upload's), and the schema of those fields.
 */
export function uploadInput(c: Context<AppEnv>): UploadInput {
  return {
    request: {
      headers: {
        contentType: c.req.header("content-type"),
        contentLength: c.req.header("content-length"),
        contentDisposition: c.req.header("content-disposition"),
      },
      body: c.req.raw.body,
      query: { title: c.req.query("title"), tags: c.req.query("tags") },
    },
    fields: UploadFieldsSchema,
  };
}
