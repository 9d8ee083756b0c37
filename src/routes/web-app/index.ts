import { createRouter } from "../../app/create-app.ts";
import { publicRouteMarker } from "../../gateway/route-traits.ts";
import { serveBuiltPage } from "../built-pages.ts";
import { WEB_APP_PAGES } from "./pages.ts";

/**
 * The web app's pages (`WEB_APP_PAGES`): GET (and HEAD) answer the app's shell, whose client-side
 * router draws the page; its scripts and styles come from `/assets/`, which the asset layer serves
 * without the worker (wrangler.toml `run_worker_first`). Not API operations, so not in the OpenAPI
 * document. Not rate-limited, like the liveness probe: a static file costs no Durable Object call
 * before the first paint, and the API requests the page then makes are counted.
 */
export const webAppRouter = createRouter().on("GET", [...WEB_APP_PAGES], publicRouteMarker({ rateLimit: false }), (c) =>
  serveBuiltPage(c, "/index.html"),
);
