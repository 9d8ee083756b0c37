// @techcorp/sdk: a typed client of the TechCorp Platform API, generated from its OpenAPI document
// (openapi.json beside this package, kept equal to the server's /openapi.json by the test suite).
export type { ApiClient, Success } from "./api-client.ts";
export {
  DEVICE_CODE_GRANT_TYPE,
  type DeviceCodePrompt,
  type DeviceSignIn,
  FIRST_PARTY_CLIENT_ID,
  MFA_OTP_GRANT_TYPE,
  type PasswordSignIn,
  type SecondFactor,
  type SignInResult,
} from "./auth.ts";
export {
  AuthorizationError,
  type AuthorizationRequestOptions,
  type PendingAuthorization,
} from "./authorization-code.ts";
export { type ClientOptions, type Credentials, createClient, type TechCorpClient } from "./client.ts";
export {
  contentDisposition,
  type Document,
  type Download,
  type DownloadQuery,
  type UploadOptions,
  type UploadProgress,
} from "./documents.ts";
export type { components, operations, paths } from "./generated/openapi.ts";
export type { ItemOf, PageOf, PaginateArgs, PaginatedPath, PaginateOptions, PaginateParams } from "./paginate.ts";
export { PROBLEM_CODES, type Problem, type ProblemCode, ProblemError, problemFrom } from "./problem.ts";
export { jwtExpiry, type TokenSet } from "./tokens.ts";
export type { Fetch } from "./transport.ts";
