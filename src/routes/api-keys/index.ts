import { createRouter } from "../../app/create-app.ts";
import { addApiKey } from "./create.ts";
import { readOwnApiKey } from "./get.ts";
import { listOwnApiKeys } from "./list.ts";
import { revokeOwnApiKey } from "./revoke.ts";
import { userApiKeysRouter } from "./user-keys.ts";

/** `/api-keys`: the caller's API keys, one file per endpoint; and administrators' `/users/{id}/api-keys`. */
export const apiKeysRouter = createRouter()
  .route("/", listOwnApiKeys)
  .route("/", addApiKey)
  .route("/", readOwnApiKey)
  .route("/", revokeOwnApiKey)
  .route("/", userApiKeysRouter);
