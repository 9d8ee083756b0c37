// The web app and the API reference page, built by Vite into dist/web, which the API worker's
// asset binding serves (wrangler.toml [assets]). `npm run build:web` builds it; `npm run dev`,
// `npm run build`, `npm run deploy` and the tests build it first (web/build/build.ts).
import { fileURLToPath } from "node:url";
import preact from "@preact/preset-vite";
import { defineConfig } from "vite";
import { SECURITY_HEADERS } from "../src/gateway/security-headers.ts";
import { appIcons } from "./build/app-icons.ts";
import { assetHeaders } from "./build/asset-headers.ts";
import { sameOriginOnly } from "./build/same-origin.ts";

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

// Vite reads a config's default export.
export default defineConfig({
  root: here("."),
  base: "/",
  // Nothing is copied unhashed: every file the pages load lies under /assets/ with a content hash.
  publicDir: false,
  plugins: [
    preact(),
    appIcons({
      name: "TechCorp",
      shortName: "TechCorp",
      description: "Your documents, projects and search.",
      brand: "#10243e",
      appPage: "index.html",
    }),
    assetHeaders(SECURITY_HEADERS),
    sameOriginOnly(),
  ],
  build: {
    outDir: here("../dist/web"),
    emptyOutDir: true,
    // Every browser the app targets supports <link rel="modulepreload">; Vite's polyfill for the
    // others would be one more script to audit.
    modulePreload: { polyfill: false },
    // No file becomes a data: URL: `img-src`/`font-src` fall back to default-src 'self'.
    assetsInlineLimit: 0,
    // Swagger UI's bundle alone is about 1.5 MB minified; it loads on /docs only.
    chunkSizeWarningLimit: 2048,
    rolldownOptions: {
      input: { app: here("index.html"), docs: here("docs/index.html") },
    },
  },
});
