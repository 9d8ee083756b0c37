import { createRouter } from "../../app/create-app.ts";
import { checkHealth } from "./health.ts";
import { checkReadiness } from "./ready.ts";

/** `/health` (liveness) and `/ready` (readiness of every dependency), one file per endpoint. */
export const healthRouter = createRouter().route("/", checkHealth).route("/", checkReadiness);
