import { createApp } from "../../src/app/create-app.ts";
import { analyticsRouter } from "../../src/routes/analytics/index.ts";
import { apiKeysRouter } from "../../src/routes/api-keys/index.ts";
import { auditRouter } from "../../src/routes/audit/index.ts";
import { authRouter } from "../../src/routes/auth/index.ts";
import { documentsRouter } from "../../src/routes/documents/index.ts";
import { healthRouter } from "../../src/routes/health/index.ts";
import { invitationsRouter } from "../../src/routes/invitations/index.ts";
import { metaRouter } from "../../src/routes/meta/index.ts";
import { metricsRouter } from "../../src/routes/metrics/index.ts";
import { notificationsRouter } from "../../src/routes/notifications/index.ts";
import { projectsRouter } from "../../src/routes/projects/index.ts";
import { searchRouter } from "../../src/routes/search/index.ts";
import { uploadsRouter } from "../../src/routes/uploads/index.ts";
import { usersRouter } from "../../src/routes/users/index.ts";
import { webAppRouter } from "../../src/routes/web-app/index.ts";
import { webhooksRouter } from "../../src/routes/webhooks/index.ts";
import { wellKnownRouter } from "../../src/routes/well-known/index.ts";

/**
 * The whole API: the shell from createApp with every resource router mounted, and the web app's
 * pages beside them (src/routes/web-app: not API operations, so neither in the OpenAPI document
 * nor in `AppType`).
 */
export function buildApp() {
  const app = createApp()
    .route("/", healthRouter)
    .route("/", wellKnownRouter)
    .route("/", authRouter)
    .route("/", usersRouter)
    .route("/", apiKeysRouter)
    .route("/", documentsRouter)
    .route("/", uploadsRouter)
    .route("/", projectsRouter)
    .route("/", invitationsRouter)
    .route("/", notificationsRouter)
    .route("/", webhooksRouter)
    .route("/", searchRouter)
    .route("/", analyticsRouter)
    .route("/", auditRouter)
    .route("/", metricsRouter);
  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "An access token from POST /auth/token.",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "metricsToken", {
    type: "http",
    scheme: "bearer",
    description: "METRICS_TOKEN, the secret GET /metrics requires (not an access token).",
  });
  const api = app.route("/", metaRouter(app));
  api.route("/", webAppRouter);
  return api;
}

export type AppType = ReturnType<typeof buildApp>;
