import { createHash } from "node:crypto";
import type { Plugin } from "vite";

/** A CSS `url(…)` token: where it starts and ends in the text, and the URL it names (escapes undone). */
interface CssUrl {
  start: number;
  end: number;
  url: string;
}

/** Reads a CSS string starting at its opening quote; returns its value and the index after its closing quote. */
function readCssString(css: string, open: number): { value: string; next: number } {
  const quote = css[open];
  let value = "";
  let i = open + 1;
  while (i < css.length && css[i] !== quote) {
    if (css[i] !== "\\") {
      value += css[i];
      i++;
      continue;
    }
    // CSS Syntax §4.3.7: a backslash and a newline is nothing; up to six hex digits (and one
    // whitespace after them) are a code point; any other character stands for itself.
    const next = css[i + 1] ?? "";
    if (next === "\n") {
      i += 2;
      continue;
    }
    const hex = /^[0-9a-fA-F]{1,6}/.exec(css.slice(i + 1, i + 7))?.[0];
    if (hex) {
      value += String.fromCodePoint(Number.parseInt(hex, 16));
      i += 1 + hex.length;
      if (/\s/.test(css[i] ?? "")) i++;
      continue;
    }
    value += next;
    i += 2;
  }
  return { value, next: i + 1 };
}

/** Every `url(…)` in a stylesheet, quoted or not. */
export function cssUrls(css: string): CssUrl[] {
  const found: CssUrl[] = [];
  const pattern = /url\(\s*/gi;
  for (let match = pattern.exec(css); match; match = pattern.exec(css)) {
    const start = match.index;
    let i = start + match[0].length;
    let url: string;
    if (css[i] === '"' || css[i] === "'") {
      const string = readCssString(css, i);
      url = string.value;
      i = string.next;
      while (/\s/.test(css[i] ?? "")) i++;
    } else {
      const close = css.indexOf(")", i);
      url = css.slice(i, close === -1 ? css.length : close).trim();
      i = close === -1 ? css.length : close;
    }
    if (css[i] !== ")") throw new Error(`unterminated url( at offset ${start}`);
    found.push({ start, end: i + 1, url });
    pattern.lastIndex = i + 1;
  }
  return found;
}

const EXTENSIONS: Record<string, string> = {
  "image/svg+xml": "svg",
  "image/png": "png",
  "image/jpeg": "jpg",
  "image/gif": "gif",
  "image/webp": "webp",
  "font/woff2": "woff2",
  "font/woff": "woff",
};

/** The bytes and type of a `data:` URL (RFC 2397); percent-escapes decoded leniently, as browsers do. */
export function decodeDataUrl(url: string): { type: string; bytes: Buffer } {
  const comma = url.indexOf(",");
  if (!url.startsWith("data:") || comma === -1) throw new Error(`not a data: URL: ${url.slice(0, 40)}`);
  const meta = url.slice("data:".length, comma).split(";");
  const data = url.slice(comma + 1);
  const type = (meta[0] || "text/plain").toLowerCase();
  if (meta.includes("base64")) return { type, bytes: Buffer.from(data, "base64") };
  const bytes: number[] = [];
  const utf8 = Buffer.from(data, "utf8");
  for (let i = 0; i < utf8.length; i++) {
    const hex = utf8.subarray(i + 1, i + 3).toString("latin1");
    if (utf8[i] === 0x25 && /^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else bytes.push(utf8[i] ?? 0);
  }
  return { type, bytes: Buffer.from(bytes) };
}

/** A URL that leaves our origin: a scheme (other than a same-origin relative one) or `//host`. */
const foreignUrl = (url: string) => /^(?:[a-z][a-z0-9+.-]*:|\/\/)/i.test(url.trim());

/** What in a built page would need more than `default-src 'self'`; empty when nothing does. */
export function inlineContent(html: string): string[] {
  const found: string[] = [];
  for (const [, attrs = "", body = ""] of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script\s*>/gi)) {
    if (!/\ssrc\s*=/i.test(attrs) || body.trim() !== "") found.push(`an inline <script${attrs}>`);
  }
  if (/<style\b/i.test(html)) found.push("a <style> element");
  for (const [tag = "", name = ""] of html.matchAll(/<([a-z][\w-]*)\b[^>]*>/gi)) {
    if (/\sstyle\s*=/i.test(tag)) found.push(`a style attribute on <${name}>`);
    const handler = /\s(on[a-z]+)\s*=/i.exec(tag)?.[1];
    if (handler) found.push(`an event handler attribute ${handler} on <${name}>`);
    // Links to other sites are navigation, which the policy does not govern; anything a tag loads is.
    if (name.toLowerCase() === "a") continue;
    for (const [, , url = ""] of tag.matchAll(/\s(src|href)\s*=\s*["']?([^"'\s>]+)/gi)) {
      if (foreignUrl(url)) found.push(`<${name}> loading ${url}`);
    }
  }
  return found;
}

/**
 * Keeps the build servable under the platform's `Content-Security-Policy: default-src 'self'`
 * (src/gateway/security-headers.ts), which allows scripts, styles, images and fonts from our own
 * origin only:
 * - a `data:` URL in a stylesheet (Swagger UI's icons) becomes a file of its own under `assets/`,
 *   named by its content, since `img-src 'self'` refuses `data:`;
 * - the build fails when a page has an inline script or style, a style or event-handler
 *   attribute, or loads anything from another origin, or when a stylesheet does.
 */
export function sameOriginOnly(): Plugin {
  let assetsBase = "/assets/";
  return {
    name: "techcorp:same-origin-only",
    enforce: "post",
    configResolved(config) {
      assetsBase = `${config.base}${config.build.assetsDir}/`.replace(/\/{2,}/g, "/");
    },
    generateBundle(_options, bundle) {
      const emitted = new Set<string>();
      for (const file of Object.values(bundle)) {
        if (file.type !== "asset" || !file.fileName.endsWith(".css")) continue;
        let css = typeof file.source === "string" ? file.source : Buffer.from(file.source).toString("utf8");
        for (const { start, end, url } of cssUrls(css).reverse()) {
          if (!url.startsWith("data:")) {
            if (foreignUrl(url)) this.error(`${file.fileName} loads ${url} from another origin`);
            continue;
          }
          const { type, bytes } = decodeDataUrl(url);
          const extension = EXTENSIONS[type];
          if (!extension) this.error(`${file.fileName} has a data: URL of type ${type}, which this plugin cannot name`);
          const hash = createHash("sha256").update(bytes).digest("base64url").slice(0, 8);
          const fileName = `${assetsBase.slice(1)}inline-${hash}.${extension}`;
          if (!emitted.has(fileName)) {
            this.emitFile({ type: "asset", fileName, source: bytes });
            emitted.add(fileName);
          }
          css = `${css.slice(0, start)}url(${assetsBase}inline-${hash}.${extension})${css.slice(end)}`;
        }
        if (/@import\s+(?:url\()?\s*["']?(?:[a-z]+:|\/\/)/i.test(css))
          this.error(`${file.fileName} imports a stylesheet from another origin`);
        file.source = css;
      }
      for (const file of Object.values(bundle)) {
        if (file.type !== "asset" || !file.fileName.endsWith(".html")) continue;
        const html = typeof file.source === "string" ? file.source : Buffer.from(file.source).toString("utf8");
        const found = inlineContent(html);
        if (found.length > 0) {
          this.error(`${file.fileName} would break Content-Security-Policy: default-src 'self': ${found.join("; ")}`);
        }
      }
    },
  };
}
