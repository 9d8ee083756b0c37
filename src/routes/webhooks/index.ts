import { createRouter } from "../../app/create-app.ts";
import { addWebhook } from "./create.ts";
import { removeWebhook } from "./delete.ts";
import { listWebhookDeliveries } from "./deliveries.ts";
import { readWebhook } from "./get.ts";
import { listOwnWebhooks } from "./list.ts";
import { changeWebhook } from "./update.ts";
import { verifyWebhook } from "./verify.ts";

/** `/webhooks`: the caller's signed webhooks, one file per endpoint. */
export const webhooksRouter = createRouter()
  .route("/", listOwnWebhooks)
  .route("/", addWebhook)
  .route("/", readWebhook)
  .route("/", changeWebhook)
  .route("/", removeWebhook)
  .route("/", verifyWebhook)
  .route("/", listWebhookDeliveries);
