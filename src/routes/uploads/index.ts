import { createRouter } from "../../app/create-app.ts";
import { cancelUpload } from "./abort.ts";
import { finishUpload } from "./complete.ts";
import { startUpload } from "./create.ts";
import { readUpload } from "./get.ts";
import { listUploads } from "./list.ts";
import { sendPart } from "./part.ts";

/** `/uploads`: resumable uploads (S3 multipart through the API), one file per endpoint. */
export const uploadsRouter = createRouter()
  .route("/", listUploads)
  .route("/", startUpload)
  .route("/", readUpload)
  .route("/", sendPart)
  .route("/", finishUpload)
  .route("/", cancelUpload);
