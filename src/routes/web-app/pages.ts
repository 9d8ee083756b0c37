/**
 * The web app's pages: the paths its client-side router draws, for which the API worker answers
 * with the app's shell (web/index.html). Hono path patterns; `/library/*` is every path under
 * `/library/`. Account mails link to `/verify-email` and `/reset-password`
 * (src/auth/account-lifecycle.ts); `/sign-in/callback` is the web app's OAuth redirect URI. None
 * of them may name an API route: test/api/web-app.test.ts matches each against every path of the
 * OpenAPI document.
 */
export const WEB_APP_PAGES = [
  "/",
  "/sign-in",
  "/sign-in/callback",
  "/register",
  "/verify-email",
  "/reset-password",
  "/library",
  "/library/*",
  "/find",
  "/inbox",
  "/settings",
  "/admin",
  "/admin/*",
] as const;

export type WebAppPage = (typeof WEB_APP_PAGES)[number];
