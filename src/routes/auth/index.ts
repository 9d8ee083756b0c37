import { createRouter } from "../../app/create-app.ts";
import { logOut } from "./logout.ts";
import { manageMfa } from "./mfa.ts";
import { logInWithOidc } from "./oidc.ts";
import { rotateTokens } from "./refresh.ts";
import { manageSessions } from "./sessions.ts";
import { issueTokens } from "./token.ts";

/** `/auth`: tokens, sessions, MFA and third-party login, one file per endpoint or small group. */
export const authRouter = createRouter()
  .route("/", issueTokens)
  .route("/", rotateTokens)
  .route("/", logOut)
  .route("/", manageSessions)
  .route("/", manageMfa)
  .route("/", logInWithOidc);
