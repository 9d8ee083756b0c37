import { createRouter } from "../../app/create-app.ts";
import { listActivity } from "./activity.ts";
import { archiveProject, unarchiveProject } from "./archive.ts";
import { createProject } from "./create.ts";
import { deleteProject } from "./delete.ts";
import { readProject } from "./get.ts";
import { manageInvitations } from "./invitations.ts";
import { listProjects } from "./list.ts";
import { manageMembers } from "./members.ts";
import { editProject } from "./update.ts";

/** `/projects`: shared workspaces, their members and invitations, one file per endpoint or group. */
export const projectsRouter = createRouter()
  .route("/", createProject)
  .route("/", listProjects)
  .route("/", readProject)
  .route("/", editProject)
  .route("/", archiveProject)
  .route("/", unarchiveProject)
  .route("/", deleteProject)
  .route("/", manageMembers)
  .route("/", manageInvitations)
  .route("/", listActivity);
