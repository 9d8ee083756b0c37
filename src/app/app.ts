import { documentsRouter } from "../routes/documents/index.ts";
import { healthRouter } from "../routes/health/index.ts";
import { metaRouter } from "../routes/meta/index.ts";
import { createApp } from "./create-app.ts";

/** The whole API: the shell from createApp with every resource router mounted. */
export function buildApp() {
  const app = createApp().route("/", healthRouter).route("/", documentsRouter);
  return app.route("/", metaRouter(app));
}

export type AppType = ReturnType<typeof buildApp>;
