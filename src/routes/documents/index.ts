import { createRouter } from "../../app/create-app.ts";
import { downloadContent } from "./content.ts";
import { deleteDocument } from "./delete.ts";
import { readDocument } from "./get.ts";
import { listDocuments } from "./list.ts";
import { moveDocument } from "./move.ts";
import { reprocessCurrentVersion } from "./reprocess.ts";
import { restoreDocument } from "./restore.ts";
import { manageShares } from "./shares.ts";
import { downloadThumbnail } from "./thumbnail.ts";
import { listTrash } from "./trash.ts";
import { editDocument } from "./update.ts";
import { uploadDocument } from "./upload.ts";
import { manageVersions } from "./versions.ts";

/** `/documents`: upload, read, change, delete and restore, the trash, versions, downloads and sharing, one file per endpoint or group. */
export const documentsRouter = createRouter()
  .route("/", uploadDocument)
  .route("/", listDocuments)
  // Before /documents/{id}, which would take `trash` for an id.
  .route("/", listTrash)
  .route("/", readDocument)
  .route("/", editDocument)
  .route("/", deleteDocument)
  .route("/", restoreDocument)
  .route("/", moveDocument)
  .route("/", manageVersions)
  .route("/", downloadContent)
  .route("/", downloadThumbnail)
  .route("/", manageShares)
  .route("/", reprocessCurrentVersion);
