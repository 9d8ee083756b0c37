import type { Context } from "hono";

/** Sets headers on the finished response; one passed through from fetch() is immutable, so it is copied first. */
export function setResponseHeaders(c: Context, headers: Record<string, string>): void {
  const apply = (target: Headers) => {
    for (const [name, value] of Object.entries(headers)) target.set(name, value);
  };
  try {
    apply(c.res.headers);
  } catch {
    c.res = new Response(c.res.body, c.res);
    apply(c.res.headers);
  }
}
