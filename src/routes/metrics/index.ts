import { createRouter } from "../../app/create-app.ts";
import { scrapeMetrics } from "./scrape.ts";

/** `/metrics`: what Prometheus scrapes (README "Observability"). */
export const metricsRouter = createRouter().route("/", scrapeMetrics);
