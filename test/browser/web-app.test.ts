import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium as playwright } from "playwright-core";
import { describe, expect, inject, it } from "vitest";
import {
  chromiumLaunchOptions,
  expectAccessible,
  expectNoProblems,
  openPage,
  PHONE,
  POLL,
  screenshot,
  useChromium,
} from "./browser.ts";

// The web app (web/index.html, web/src) as the API worker serves it on its page paths, to a visitor
// who is not signed in: every page but the public ones sends to the sign-in page.

const chromium = useChromium();
const base = inject("apiUrl");

describe("the web app's shell", () => {
  it("loads at / with its header and <main>, its script run, under the Content-Security-Policy, accessible", async () => {
    const { page, problems } = await openPage(chromium.browser, `${base}/`);
    await expect.poll(() => page.locator("main h1").textContent(), POLL).toBe("Sign in");
    expect(new URL(page.url()).pathname).toBe("/sign-in");
    expect(await page.locator("header").isVisible()).toBe(true);
    expect(await page.title()).toBe("TechCorp");
    expectNoProblems(problems);
    await expectAccessible(page);
    await screenshot(page, "app");
  });

  it("loads on a page path deep under /library/, and comes back to it after signing in", async () => {
    const { page, problems } = await openPage(chromium.browser, `${base}/library/some/folder`);
    await expect.poll(() => page.locator("main h1").textContent(), POLL).toBe("Sign in");
    expect(new URL(page.url()).searchParams.get("next")).toBe("/library/some/folder");
    expectNoProblems(problems);
  });

  it("fits a phone's width (390 × 844): nothing wider than the screen, accessible", async () => {
    const { page, problems } = await openPage(chromium.browser, `${base}/`, PHONE);
    await expect.poll(() => page.locator("main h1").textContent(), POLL).toBe("Sign in");
    const width = await page.evaluate("document.documentElement.scrollWidth");
    expect(width).toBeLessThanOrEqual(PHONE.width);
    expectNoProblems(problems);
    await expectAccessible(page);
    await screenshot(page, "app-phone");
  });

  it("has a manifest and icons that load", async () => {
    const { page, problems } = await openPage(chromium.browser, `${base}/`);
    const href = await page.locator('link[rel="manifest"]').getAttribute("href");
    expect(href).toMatch(/^\/assets\/manifest-[\w-]+\.webmanifest$/);
    const manifestUrl = new URL(href ?? "", base);
    const manifest = (await (await fetch(manifestUrl)).json()) as {
      start_url: string;
      display: string;
      icons: { src: string; sizes: string; type: string }[];
    };
    expect(manifest).toMatchObject({ start_url: "/", display: "standalone" });
    expect(manifest.icons.map((icon) => icon.sizes)).toEqual(expect.arrayContaining(["192x192", "512x512"]));
    for (const icon of manifest.icons) {
      const response = await fetch(new URL(icon.src, manifestUrl));
      expect(response.status, icon.src).toBe(200);
      expect(response.headers.get("content-type")).toBe("image/png");
      // The PNG signature, and the size the manifest states (IHDR's width and height).
      const bytes = Buffer.from(await response.arrayBuffer());
      expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      expect(`${bytes.readUInt32BE(16)}x${bytes.readUInt32BE(20)}`).toBe(icon.sizes);
    }
    expectNoProblems(problems);
  });

  it("is installable: Chromium reports no installability error", async () => {
    // In a profile of its own: Chromium never offers to install from an incognito context, which
    // every `browser.newContext()` is.
    const profile = await mkdtemp(path.join(tmpdir(), "chromium-profile-"));
    const context = await playwright.launchPersistentContext(profile, chromiumLaunchOptions());
    try {
      const page = await context.newPage();
      await page.goto(`${base}/`, { waitUntil: "networkidle" });
      const session = await context.newCDPSession(page);
      const { installabilityErrors } = (await session.send("Page.getInstallabilityErrors")) as {
        installabilityErrors: { errorId: string }[];
      };
      expect(installabilityErrors.map((error) => error.errorId)).toEqual([]);
    } finally {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    }
  });
});
