import { createRouter } from "../../app/create-app.ts";
import { changeMyEmail } from "./change-email.ts";
import { changePassword } from "./change-password.ts";
import { removeUser } from "./delete.ts";
import { deleteMe } from "./delete-me.ts";
import { resendEmailVerification } from "./email-verification.ts";
import { exportMe } from "./export.ts";
import { readUser } from "./get.ts";
import { readMe } from "./get-me.ts";
import { browseUsers } from "./list.ts";
import { listLocked } from "./locked.ts";
import { managePermissions } from "./permissions.ts";
import { registerUser } from "./register.ts";
import { resetUserMfa } from "./reset-mfa.ts";
import { changeRole } from "./role.ts";
import { listMySecurityEvents } from "./security-events.ts";
import { sendUserPasswordReset } from "./send-reset.ts";
import { setPassword } from "./set-password.ts";
import { changeUserStatus } from "./status.ts";
import { unlockUser } from "./unlock.ts";
import { patchUser } from "./update.ts";
import { updateMe } from "./update-me.ts";

/**
 * `/users`: registration, one's own profile, and the delegated administration of accounts, one
 * file per endpoint. The order is the registration order: `/users/me…` and `/users/locked` before `/users/{id}`.
 */
export const usersRouter = createRouter()
  .route("/", registerUser)
  .route("/", readMe)
  .route("/", updateMe)
  .route("/", listMySecurityEvents)
  .route("/", resendEmailVerification)
  .route("/", changeMyEmail)
  .route("/", changePassword)
  .route("/", deleteMe)
  .route("/", exportMe)
  .route("/", browseUsers)
  .route("/", listLocked)
  .route("/", readUser)
  .route("/", patchUser)
  .route("/", changeRole)
  .route("/", changeUserStatus)
  .route("/", removeUser)
  .route("/", sendUserPasswordReset)
  .route("/", setPassword)
  .route("/", resetUserMfa)
  .route("/", unlockUser)
  .route("/", managePermissions);
