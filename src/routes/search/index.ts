import { createRouter } from "../../app/create-app.ts";
import { recordClick } from "./clicks.ts";
import { searchDocuments } from "./search.ts";
import { suggestQueries } from "./suggest.ts";

/** `/search`: full-text search, autocomplete and click-through, one file per endpoint. */
export const searchRouter = createRouter()
  .route("/", searchDocuments)
  .route("/", suggestQueries)
  .route("/", recordClick);
