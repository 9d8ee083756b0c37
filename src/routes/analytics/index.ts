import { createRouter } from "../../app/create-app.ts";
import { reportClickThrough } from "./click-through.ts";
import { reportSearchLatency } from "./latency.ts";
import { reportMetrics } from "./metrics.ts";
import { manageSuppressedQueries } from "./suppressed-queries.ts";
import { reportTopQueries } from "./top-queries.ts";
import { reportZeroResults } from "./zero-results.ts";

/** `/analytics`: search reports and business metrics (`analytics:read`), suppressed queries (administrators). */
export const analyticsRouter = createRouter()
  .route("/", reportTopQueries)
  .route("/", reportZeroResults)
  .route("/", reportSearchLatency)
  .route("/", reportClickThrough)
  .route("/", reportMetrics)
  .route("/", manageSuppressedQueries);
