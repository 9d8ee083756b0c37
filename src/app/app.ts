import { analyticsRouter } from "../routes/analytics/index.ts";
import { authRouter } from "../routes/auth/index.ts";
import { oidcRouter } from "../routes/auth/oidc.ts";
import { documentsRouter } from "../routes/documents/index.ts";
import { healthRouter } from "../routes/health/index.ts";
import { metaRouter } from "../routes/meta/index.ts";
import { notificationsRouter } from "../routes/notifications/index.ts";
import { searchRouter } from "../routes/search/index.ts";
import { usersRouter } from "../routes/users/index.ts";
import { wellKnownRouter } from "../routes/well-known/index.ts";
import { createApp } from "./create-app.ts";

/** The whole API: the shell from createApp with every resource router mounted. */
export function buildApp() {
  const app = createApp()
    .route("/", healthRouter)
    .route("/", wellKnownRouter)
    .route("/", authRouter)
    .route("/", oidcRouter)
    .route("/", usersRouter)
    .route("/", documentsRouter)
    .route("/", notificationsRouter)
    .route("/", searchRouter)
    .route("/", analyticsRouter);
  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "An access token from POST /auth/token.",
  });
  return app.route("/", metaRouter(app));
}

export type AppType = ReturnType<typeof buildApp>;
