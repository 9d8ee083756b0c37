import createOpenApiFetch, { type Client, type FetchResponse, type MaybeOptionalInit } from "openapi-fetch";
import type { HttpMethod, MediaType, PathsWithMethod, RequiredKeysOf } from "openapi-typescript-helpers";
import type { paths } from "./generated/openapi.ts";
import { problemFrom } from "./problem.ts";
import type { AuthorizedFetch } from "./transport.ts";

/** openapi-fetch's last argument: optional when the operation needs no parameter or body. */
type InitParam<Init> =
  RequiredKeysOf<Init> extends never ? [(Init & { [key: string]: unknown })?] : [Init & { [key: string]: unknown }];

/** What an openapi-fetch call resolves to when it did not throw: the success branch alone. */
export type Success<R> = Extract<R, { data: unknown }>;

/** The operation of `path` for `method`, as openapi-fetch's `FetchResponse` takes it. */
type OperationOf<P extends keyof paths, M extends HttpMethod> = paths[P][M] extends infer Operation extends Record<
  string | number,
  unknown
>
  ? Operation
  : never;

/** openapi-fetch's `ClientMethod` for the generated `paths`, resolving to the success branch of its answer. */
type Method<M extends HttpMethod> = <P extends PathsWithMethod<paths, M>, Init extends MaybeOptionalInit<paths[P], M>>(
  path: P,
  ...init: InitParam<Init>
) => Promise<Success<FetchResponse<OperationOf<P, M>, Init, MediaType>>>;

/**
 * The raw typed client: openapi-fetch over the generated `paths`, so every operation of the API is
 * callable with its path, parameters, body and answer typed from the OpenAPI document:
 *
 * ```ts
 * const { data, response } = await client.api.GET("/documents/{id}", { params: { path: { id } } });
 * ```
 *
 * Unlike plain openapi-fetch, a non-2xx answer is thrown as `ProblemError` (never returned as
 * `error`), so `data` is the documented success body (undefined for 204, and for a 304 answering an
 * `If-None-Match` the caller sent). `parseAs: "stream"` gives the body unread.
 */
export interface ApiClient {
  GET: Method<"get">;
  PUT: Method<"put">;
  POST: Method<"post">;
  DELETE: Method<"delete">;
  PATCH: Method<"patch">;
  HEAD: Method<"head">;
  /** openapi-fetch middleware (`onRequest`, `onResponse`, `onError`), run around every call. */
  use: Client<paths>["use"];
  eject: Client<paths>["eject"];
}

/** The openapi-fetch client at `baseUrl`, sending through `fetch`, that throws `ProblemError` for non-2xx. */
export function createApiClient(baseUrl: string, fetch: AuthorizedFetch): ApiClient {
  const client = createOpenApiFetch<paths>({
    baseUrl,
    // Its bodies are serialized (JSON, a form, a string), so a copy taken before sending can be
    // sent again after a refresh.
    fetch: (request) => {
      const spare = request.clone();
      return fetch(request, () => spare);
    },
  });
  client.use({
    async onResponse({ response }) {
      if (!response.ok && response.status !== 304) throw await problemFrom(response);
      return undefined;
    },
  });
  // The middleware above throws for every answer openapi-fetch would return as `error`.
  return client as unknown as ApiClient;
}
