import type { Context, Env, MiddlewareHandler } from "hono";
import { METHOD_NAME_ALL } from "hono/router";
import { TrieRouter } from "hono/router/trie-router";
import type { RouterRoute } from "hono/types";

/** The routes of one path pattern (e.g. `/users/:id`): the methods they serve and how concrete it is. */
interface Resource {
  /** Per segment, left to right: 2 for a literal, 1 for a parameter, 0 for a wildcard. */
  rank: number[];
  methods: Set<string>;
}

export interface MethodNotAllowedOptions<E extends Env> {
  /** The app whose method routes define the resources; read at the first request, once every router is mounted. */
  app: { routes: readonly RouterRoute[] };
  /** Builds the 405 response; `allow` lists the resource's methods, HEAD with GET (RFC 9110 §9.3.2). */
  onMethodNotAllowed: (c: Context<E>, allow: string[]) => Response | Promise<Response>;
}

const segmentRank = (segment: string) => (segment.includes("*") ? 0 : segment.startsWith(":") ? 1 : 2);

/** Positive when `a` is more concrete than `b`: the first segment that differs decides. */
function compareRank(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const difference = (a[i] ?? 0) - (b[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return a.length - b.length;
}

function resourceRouter(routes: readonly RouterRoute[]): TrieRouter<Resource> {
  const byPath = new Map<string, Resource>();
  for (const route of routes) {
    // `use()` middleware is registered for ALL methods; it serves no resource of its own.
    if (route.method === METHOD_NAME_ALL) continue;
    const resource = byPath.get(route.path) ?? {
      rank: route.path.split("/").filter(Boolean).map(segmentRank),
      methods: new Set<string>(),
    };
    resource.methods.add(route.method);
    if (route.method === "GET") resource.methods.add("HEAD");
    byPath.set(route.path, resource);
  }
  const router = new TrieRouter<Resource>();
  for (const [path, resource] of byPath) router.add(METHOD_NAME_ALL, path, resource);
  return router;
}

/**
 * The methods of the resource a request path names, or undefined when no route matches it. When a
 * concrete path and a templated one both match (`/users/me` and `/users/{id}`), the path names the
 * concrete resource, as OpenAPI 3.1 §4.8.8 (Paths Object) matches concrete paths before templated
 * ones; equally concrete patterns are one resource.
 */
function allowedMethods(router: TrieRouter<Resource>, path: string): string[] | undefined {
  let best: Resource[] = [];
  for (const [resource] of router.match(METHOD_NAME_ALL, path)[0]) {
    const order = best[0] ? compareRank(resource.rank, best[0].rank) : 1;
    if (order > 0) best = [resource];
    else if (order === 0) best.push(resource);
  }
  if (best.length === 0) return undefined;
  return [...new Set(best.flatMap((resource) => [...resource.methods]))];
}

/**
 * 405 Method Not Allowed with `Allow` (RFC 9110 §15.5.6) for a request whose path names a resource
 * that no route serves with its method, before any route runs, so a templated route of another
 * resource never answers it (`DELETE /users/me` is not `DELETE /users/{id}`). Register it after the
 * middleware whose headers a 405 should carry (request id, CORS) and before the routes. Unknown
 * paths go on to the not-found handler.
 */
export function methodNotAllowed<E extends Env>(options: MethodNotAllowedOptions<E>): MiddlewareHandler<E> {
  let router: TrieRouter<Resource> | undefined;
  return async function methodNotAllowed(c, next) {
    router ??= resourceRouter(options.app.routes);
    const allow = allowedMethods(router, c.req.path);
    if (allow === undefined || allow.includes(c.req.method)) return next();
    return options.onMethodNotAllowed(c, allow);
  };
}
