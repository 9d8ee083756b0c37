import { createHash } from "node:crypto";
import type { HtmlTagDescriptor, Plugin } from "vite";
import { encodePng, type Rgba } from "./png.ts";

/** What the app is called and its colours, in the manifest and the pages' `theme-color`. */
export interface AppIdentity {
  name: string;
  shortName: string;
  description: string;
  /** `#rrggbb`: the icons' background, the manifest's theme and background colour. */
  brand: string;
  /** The HTML entry (relative to Vite's root) that links the manifest; every page gets the icons. */
  appPage: string;
}

const WHITE: Rgba = [255, 255, 255, 255];

function rgba(hex: string): Rgba {
  const match = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!match) throw new Error(`brand must be #rrggbb, not ${hex}`);
  const [, r = "", g = "", b = ""] = match;
  return [Number.parseInt(r, 16), Number.parseInt(g, 16), Number.parseInt(b, 16), 255];
}

/**
 * The app's icon at `size` pixels: a white "T" on the brand colour, full bleed, the letter inside
 * the central 60 % so that it survives any mask a platform applies (a maskable icon's safe zone is
 * the centred circle of 80 %: W3C Web App Manifest, "icon masks").
 */
function icon(size: number, brand: Rgba): Buffer {
  const unit = size / 100;
  const inBar = (x: number, y: number) => x >= 25 * unit && x < 75 * unit && y >= 25 * unit && y < 37 * unit;
  const inStem = (x: number, y: number) => x >= 44 * unit && x < 56 * unit && y >= 25 * unit && y < 75 * unit;
  return encodePng(size, size, (x, y) => (inBar(x + 0.5, y + 0.5) || inStem(x + 0.5, y + 0.5) ? WHITE : brand));
}

/** `assets/<name>-<hash>.<ext>`: named by content like Vite's own assets, so they can be cached for good. */
function hashedName(name: string, ext: string, content: Buffer | string): string {
  const hash = createHash("sha256").update(content).digest("base64url").slice(0, 8);
  return `assets/${name}-${hash}.${ext}`;
}

interface Emitted {
  fileName: string;
  source: Buffer | string;
}

function appFiles(identity: AppIdentity): {
  files: Emitted[];
  tags: HtmlTagDescriptor[];
  manifestTag: HtmlTagDescriptor;
} {
  const brand = rgba(identity.brand);
  const png = (size: number): Emitted => {
    const source = icon(size, brand);
    return { fileName: hashedName(`icon-${size}`, "png", source), source };
  };
  const [favicon, touch, medium, large] = [png(32), png(180), png(192), png(512)];
  // Paths from the manifest are resolved against the manifest's own URL (it sits beside the icons).
  const relative = (file: Emitted) => file.fileName.slice("assets/".length);
  const manifest = JSON.stringify(
    {
      id: "/",
      name: identity.name,
      short_name: identity.shortName,
      description: identity.description,
      start_url: "/",
      scope: "/",
      display: "standalone",
      theme_color: identity.brand,
      background_color: identity.brand,
      icons: [
        { src: relative(medium), sizes: "192x192", type: "image/png", purpose: "any" },
        { src: relative(large), sizes: "512x512", type: "image/png", purpose: "any" },
        // The same drawing: its letter already lies inside the safe zone.
        { src: relative(large), sizes: "512x512", type: "image/png", purpose: "maskable" },
      ],
    },
    null,
    2,
  );
  const manifestFile = { fileName: hashedName("manifest", "webmanifest", manifest), source: manifest };
  const link = (attrs: Record<string, string>): HtmlTagDescriptor => ({ tag: "link", attrs, injectTo: "head" });
  return {
    files: [favicon, touch, medium, large, manifestFile],
    tags: [
      link({ rel: "icon", type: "image/png", sizes: "32x32", href: `/${favicon.fileName}` }),
      link({ rel: "apple-touch-icon", href: `/${touch.fileName}` }),
    ],
    manifestTag: link({ rel: "manifest", href: `/${manifestFile.fileName}` }),
  };
}

/**
 * Makes the app installable: draws its PNG icons (32 px favicon, 180 px Apple touch icon, 192 and
 * 512 px for the manifest) and writes its web app manifest at build time, each under `assets/`
 * with a content hash, and links them from the pages (the manifest from `identity.appPage` only).
 * Nothing is committed as a binary, and every file is of our own origin.
 */
export function appIcons(identity: AppIdentity): Plugin {
  const { files, tags, manifestTag } = appFiles(identity);
  return {
    name: "techcorp:app-icons",
    buildStart() {
      for (const file of files) this.emitFile({ type: "asset", fileName: file.fileName, source: file.source });
    },
    transformIndexHtml(_html, context) {
      const page = context.path.replace(/^\//, "");
      return page === identity.appPage ? [...tags, manifestTag] : tags;
    },
  };
}
