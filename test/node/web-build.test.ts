import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { inflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { SECURITY_HEADERS } from "../../src/gateway/security-headers.ts";
import { WEB_BUILD } from "../../web/build/build.ts";
import { encodePng } from "../../web/build/png.ts";
import { cssUrls, decodeDataUrl, inlineContent } from "../../web/build/same-origin.ts";

// The web build's own plugins (web/build), and what they leave in dist/web, which the project's
// global setup built (test/setup/web-build.ts): nothing that `default-src 'self'` would refuse.

const built = (extension: string) =>
  readdirSync(WEB_BUILD, { recursive: true, encoding: "utf8" }).filter((file) => file.endsWith(extension));
const read = (file: string) => readFileSync(path.join(WEB_BUILD, file), "utf8");

describe("inlineContent", () => {
  it("finds what a page would need more than default-src 'self' for", () => {
    expect(
      inlineContent(`<!doctype html><html><head>
        <script>alert(1)</script>
        <script type="module" src="/assets/a.js">x()</script>
        <script src="https://cdn.example/lib.js"></script>
        <link rel="stylesheet" href="//cdn.example/a.css">
        <style>p{}</style>
      </head><body><p style="color:red" onclick="go()">x</p><img src="data:image/png;base64,AA"></body></html>`),
    ).toEqual([
      "an inline <script>",
      'an inline <script type="module" src="/assets/a.js">',
      "a <style> element",
      "<script> loading https://cdn.example/lib.js",
      "<link> loading //cdn.example/a.css",
      "a style attribute on <p>",
      "an event handler attribute onclick on <p>",
      "<img> loading data:image/png;base64,AA",
    ]);
  });

  it("accepts same-origin files and links to other sites", () => {
    expect(
      inlineContent(`<script type="module" crossorigin src="/assets/app-1.js"></script>
        <link rel="stylesheet" crossorigin href="/assets/app-1.css"><a href="https://example.com/">out</a>`),
    ).toEqual([]);
  });
});

describe("cssUrls and decodeDataUrl", () => {
  it("read quoted, escaped and bare url() tokens, and the bytes of data: URLs", () => {
    const svg = `<svg xmlns=\\"http://www.w3.org/2000/svg\\"><path d=\\"M0 0h1v1z\\" transform=\\"rotate(45)\\"/></svg>`;
    const css = `a{background:url("data:image/svg+xml;charset=utf-8,${svg}")}b{background:url( 'x.png' )}c{background:url(/assets/y.svg)}`;
    const urls = cssUrls(css);
    expect(urls.map((url) => url.url)).toEqual([
      'data:image/svg+xml;charset=utf-8,<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0h1v1z" transform="rotate(45)"/></svg>',
      "x.png",
      "/assets/y.svg",
    ]);
    for (const { start, end } of urls) expect(css.slice(start, end)).toMatch(/^url\(.*\)$/);
    expect(decodeDataUrl(urls[0]?.url ?? "")).toEqual({
      type: "image/svg+xml",
      bytes: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0h1v1z" transform="rotate(45)"/></svg>'),
    });
  });

  it("decode base64 and percent-escapes, leaving a stray % as it is", () => {
    expect(decodeDataUrl("data:image/png;base64,iVBORw==")).toEqual({
      type: "image/png",
      bytes: Buffer.from([0x89, 0x50, 0x4e, 0x47]),
    });
    expect(decodeDataUrl("data:image/svg+xml,%3Csvg width='100%'%3E").bytes.toString()).toBe("<svg width='100%'>");
  });
});

describe("encodePng", () => {
  it("writes the signature, IHDR and the pixels, row by row", () => {
    const png = encodePng(3, 2, (x, y) => [x * 10, y * 10, 7, 255]);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(png.subarray(12, 16).toString("latin1")).toBe("IHDR");
    expect([png.readUInt32BE(16), png.readUInt32BE(20), png[24], png[25]]).toEqual([3, 2, 8, 6]);
    const idatLength = png.readUInt32BE(33);
    expect(png.subarray(37, 41).toString("latin1")).toBe("IDAT");
    const raw = inflateSync(png.subarray(41, 41 + idatLength));
    // Each row: filter type 0, then RGBA per pixel.
    expect([...raw]).toEqual([
      0, 0, 0, 7, 255, 10, 0, 7, 255, 20, 0, 7, 255, 0, 0, 10, 7, 255, 10, 10, 7, 255, 20, 10, 7, 255,
    ]);
  });
});

describe("dist/web, as built", () => {
  it("has the app's and the reference's pages, with nothing inline and nothing from another origin", () => {
    expect(built(".html").sort()).toEqual(["docs/index.html", "index.html"]);
    for (const page of built(".html")) expect(inlineContent(read(page)), page).toEqual([]);
  });

  it("has stylesheets that load no data: URL and nothing from another origin", () => {
    expect(built(".css").length).toBeGreaterThanOrEqual(2);
    for (const sheet of built(".css")) {
      const foreign = cssUrls(read(sheet))
        .map(({ url }) => url)
        .filter((url) => !url.startsWith("/assets/"));
      expect(foreign, sheet).toEqual([]);
    }
  });

  it("gives /assets/* the platform's security headers (_headers)", () => {
    const rules = read("_headers");
    expect(rules).toContain("\n/assets/*\n");
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(rules).toContain(`  ${name}: ${value}\n`);
  });

  it("links a manifest whose icons are built PNGs of the sizes it states", () => {
    const href = /<link rel="manifest" href="\/(assets\/manifest-[\w-]+\.webmanifest)">/.exec(read("index.html"))?.[1];
    expect(href).toBeDefined();
    const manifest = JSON.parse(read(href ?? "")) as { icons: { src: string; sizes: string }[] };
    for (const icon of manifest.icons) {
      const png = readFileSync(path.join(WEB_BUILD, "assets", icon.src));
      expect(`${png.readUInt32BE(16)}x${png.readUInt32BE(20)}`, icon.src).toBe(icon.sizes);
    }
  });
});
