import { createRouter } from "../../app/create-app.ts";
import { downloadContent } from "./content.ts";
import { deleteDocument } from "./delete.ts";
import { readDocument } from "./get.ts";
import { listDocuments } from "./list.ts";
import { moveDocument } from "./move.ts";
import { reprocessCurrentVersion } from "./reprocess.ts";
import { manageShares } from "./shares.ts";
import { downloadThumbnail } from "./thumbnail.ts";
import { editDocument } from "./update.ts";
import { uploadDocument } from "./upload.ts";
import { manageVersions } from "./versions.ts";

/** `/documents`: upload, read, change, delete, versions, downloads and sharing, one file per endpoint or group. */
export const documentsRouter = createRouter()
  .route("/", uploadDocument)
  .route("/", listDocuments)
  .route("/", readDocument)
  .route("/", editDocument)
  .route("/", deleteDocument)
  .route("/", moveDocument)
  .route("/", manageVersions)
  .route("/", downloadContent)
  .route("/", downloadThumbnail)
  .route("/", manageShares)
  .route("/", reprocessCurrentVersion);
