import { createRouter } from "../../app/create-app.ts";
import { authorize } from "./authorize.ts";
import { verifyDevices } from "./device.ts";
import { authorizeDevice } from "./device-authorization.ts";
import { confirmEmailAddress } from "./email-verification.ts";
import { introspect } from "./introspect.ts";
import { logOut } from "./logout.ts";
import { manageMfa } from "./mfa.ts";
import { logInWithOidc } from "./oidc.ts";
import { passwordReset } from "./password-reset.ts";
import { rotateTokens } from "./refresh.ts";
import { revoke } from "./revoke.ts";
import { manageSessions } from "./sessions.ts";
import { issueTokens } from "./token.ts";
import { serveUserInfo } from "./userinfo.ts";

/** `/auth`: tokens, sessions, MFA and third-party login, one file per endpoint or small group. */
export const authRouter = createRouter()
  .route("/", authorize)
  .route("/", issueTokens)
  .route("/", revoke)
  .route("/", introspect)
  .route("/", serveUserInfo)
  .route("/", authorizeDevice)
  .route("/", verifyDevices)
  .route("/", rotateTokens)
  .route("/", logOut)
  .route("/", manageSessions)
  .route("/", manageMfa)
  .route("/", logInWithOidc)
  .route("/", passwordReset)
  .route("/", confirmEmailAddress);
