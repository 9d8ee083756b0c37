import { createRouter } from "../../app/create-app.ts";
import { registerAccount } from "../../auth/registration.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { lifecycleDeps } from "../auth/deps.ts";
import { jsonBody, jsonResponse, publicRoute } from "../openapi.ts";
import { requestOrigin } from "../request-origin.ts";
import { RegisterSchema, toUserJson, UserSchema } from "./schemas.ts";

// Creating accounts: sign-up floods, and a PBKDF2 derivation each.
const route = publicRoute("auth", {
  method: "post",
  path: "/users",
  tags: ["Users"],
  summary: "Register",
  description:
    "Creates an account with the `user` role. The answer is the same whether or not the email or username is already taken (OWASP: no account enumeration): 201 with an account's shape either way. A taken email or username creates nothing; the answer then describes an account that does not exist, and the owner of an existing account with that email is told by mail, queued after the answer. Email and username are unique case-insensitively.",
  request: { body: jsonBody(RegisterSchema) },
  responses: {
    201: jsonResponse(
      "The new user (or, when the email or username is taken, a stand-in of the same shape).",
      UserSchema,
    ),
    ...problemResponses(400, 415, 429, 503),
  },
});

export const registerUser = createRouter().openapi(route, async (c) => {
  const services = c.get("services");
  const deps = {
    db: services.database.db,
    pbkdf2Iterations: services.config.auth.pbkdf2Iterations,
    logger: c.get("logger"),
    requestId: c.get("requestId"),
    notifications: services.notifications,
    cache: services.cache,
    background: services.background,
    origin: requestOrigin(c),
    verification: lifecycleDeps(c),
  };
  const user = await registerAccount(deps, c.req.valid("json"));
  return c.json(toUserJson(user), 201, { Location: `/users/${user.id}` });
});
