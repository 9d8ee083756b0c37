import { createRouter } from "../../app/create-app.ts";
import { answerInvitation } from "./answer.ts";
import { listInvitations } from "./list.ts";

/** `/invitations`: the caller's pending invitations to projects and their answers, one file per endpoint or group. */
export const invitationsRouter = createRouter().route("/", listInvitations).route("/", answerInvitation);
