import type { RequiredKeysOf } from "openapi-typescript-helpers";
import type { ApiClient } from "./api-client.ts";
import type { paths } from "./generated/openapi.ts";

type JsonOk<Operation> = Operation extends { responses: { 200: { content: { "application/json": infer Body } } } }
  ? Body
  : never;

/** A page of a keyset-paginated list: its items and the cursor of the next page (null on the last). */
interface Page {
  data: readonly unknown[];
  nextCursor: string | null;
}

/**
 * The paths whose GET is a keyset-paginated list (the `cursor` query parameter in, `{ data, nextCursor }`
 * out): `/documents`, `/users`, `/uploads`, `/projects`, `/notifications`, `/search`, `/audit` …,
 * computed from the generated types, so a new list endpoint joins by itself.
 */
export type PaginatedPath = {
  [P in keyof paths]: paths[P] extends { get: infer Operation }
    ? JsonOk<Operation> extends Page
      ? Operation extends { parameters: { query?: { cursor?: string } } }
        ? P
        : never
      : never
    : never;
}[keyof paths];

type GetOf<P extends PaginatedPath> = paths[P]["get"];

/** A whole page of `P` as the API answers it (with any members beside `data`: `unreadCount`, `facets` …). */
export type PageOf<P extends PaginatedPath> = JsonOk<GetOf<P>>;

/** One item of a page of `P`: a `Document` for `/documents`, a `User` for `/users` … */
export type ItemOf<P extends PaginatedPath> = PageOf<P>["data"][number];

type Parameters<P extends PaginatedPath> = GetOf<P>["parameters"];

/** The parameters of `P` without `cursor`, which the iterator sets; `query.limit` is the page size. */
export type PaginateParams<P extends PaginatedPath> = Omit<Parameters<P>, "query"> & {
  query?: Omit<NonNullable<Parameters<P>["query"]>, "cursor">;
};

/** Whether `P` has parameters that must be given (a path parameter, `/projects/{id}/activity`). */
type ParamsRequired<P extends PaginatedPath> = RequiredKeysOf<PaginateParams<P>> extends never ? false : true;

/** `params` (required when `P` has path parameters) and an AbortSignal that stops the walk. */
export type PaginateOptions<P extends PaginatedPath> = (ParamsRequired<P> extends true
  ? { params: PaginateParams<P> }
  : { params?: PaginateParams<P> }) & { signal?: AbortSignal };

/** `options` as a rest parameter: optional unless the path has required parameters. */
export type PaginateArgs<P extends PaginatedPath> =
  ParamsRequired<P> extends true ? [options: PaginateOptions<P>] : [options?: PaginateOptions<P>];

/** The one shape `pages` calls GET with; the public signatures above keep the types per path. */
type LooseGet = (
  path: string,
  init: { params: { query: Record<string, unknown> }; signal?: AbortSignal | undefined },
) => Promise<{ data?: unknown }>;

function isPage(body: unknown): body is Page {
  if (typeof body !== "object" || body === null) return false;
  const { data, nextCursor } = body as Partial<Page>;
  return Array.isArray(data) && (typeof nextCursor === "string" || nextCursor === null);
}

/**
 * Every page of a keyset-paginated list, fetched one at a time as the loop asks for them (one GET a
 * page; nothing fetched ahead), from the first until `nextCursor` is null. Stopping the loop
 * (`break`, `return`, a throw) fetches nothing more.
 * @throws ProblemError when a page is refused (400 for an unknown cursor, 401 …);
 *   TypeError when an answer is not a page.
 */
export async function* pages<P extends PaginatedPath>(
  api: ApiClient,
  path: P,
  ...[options]: PaginateArgs<P>
): AsyncGenerator<PageOf<P>, void, undefined> {
  const params = (options?.params ?? {}) as { query?: Record<string, unknown> };
  const get = api.GET as unknown as LooseGet;
  let cursor: string | undefined;
  do {
    const query = { ...params.query, ...(cursor === undefined ? {} : { cursor }) };
    const { data } = await get(path, { params: { ...params, query }, signal: options?.signal });
    if (!isPage(data)) throw new TypeError(`GET ${path} did not answer a page ({ data, nextCursor })`);
    yield data as PageOf<P>;
    cursor = data.nextCursor ?? undefined;
  } while (cursor !== undefined);
}

/**
 * Every item of a keyset-paginated list, across pages (see `pages`):
 *
 * ```ts
 * for await (const doc of client.paginate("/documents", { params: { query: { tag: "work", limit: 50 } } })) …
 * ```
 */
export async function* paginate<P extends PaginatedPath>(
  api: ApiClient,
  path: P,
  ...options: PaginateArgs<P>
): AsyncGenerator<ItemOf<P>, void, undefined> {
  for await (const page of pages(api, path, ...options)) yield* page.data as ItemOf<P>[];
}
