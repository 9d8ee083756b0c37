import type { Context } from "hono";
import type { AppEnv } from "../app/context.ts";

/** The HTML files Vite builds into dist/web (web/vite.config.ts), by their path in the asset directory. */
export type BuiltPage = "/index.html" | "/docs/index.html";

/** Request headers passed on to the asset layer, so a browser's revalidation can get a 304. */
const CONDITIONAL_HEADERS = ["if-none-match", "if-modified-since"] as const;

/**
 * Answers with a page Vite built, read through the ASSETS binding (wrangler.toml `[assets]`,
 * `html_handling = "none"`: the file by its exact path). The response goes back through the app,
 * so it carries the platform's security headers like any other. A missing file is a build that did
 * not run (`npm run build:web`): an error, answered 500 and logged with its name.
 */
export async function serveBuiltPage(c: Context<AppEnv>, page: BuiltPage): Promise<Response> {
  const headers = new Headers();
  for (const name of CONDITIONAL_HEADERS) {
    const value = c.req.header(name);
    if (value !== undefined) headers.set(name, value);
  }
  const asset = await c.env.ASSETS.fetch(new URL(page, c.req.url), { headers });
  if (asset.status !== 200 && asset.status !== 304) {
    await asset.body?.cancel();
    throw new Error(`dist/web${page} answered ${asset.status}: is the web app built (npm run build:web)?`);
  }
  return new Response(asset.body, asset);
}
