import { readFile } from "node:fs/promises";
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { apiUrl, mailedLink, newAccount, register } from "../clients/accounts.ts";
import { expectAccessible, expectNoProblems, openPage, PHONE, screenshot, useChromium } from "./browser.ts";

// The everyday tasks of the issue, in a real Chromium against the local stack, as people do them:
// register, confirm the address, upload (and watch it become ready), search, open, share with a
// second person who then sees it, sign out. Every page is checked by axe-core and photographed.

const chromium = useChromium();

const HELIOTROPE_PLAN = "# Heliotrope plan\n\nShip the **heliotrope** release by spring.\n";

/** Waits until the page shows `text` somewhere in <main>. */
const shows = (page: Page, text: string | RegExp, timeout = 30_000) =>
  page.locator("main").getByText(text).first().waitFor({ timeout });

describe("a person's everyday tasks in the browser", () => {
  it("register, confirm, upload, search, open, share, and sign out", { timeout: 180_000 }, async () => {
    const base = apiUrl();
    const owner = newAccount("web-owner");
    const { page, problems } = await openPage(chromium.browser, `${base}/register`);

    // Register: the app signs in at once and says a confirmation link was mailed.
    await page.getByLabel("Email").fill(owner.email);
    await page.getByLabel("Username").fill(owner.username);
    await page.getByLabel("Password").fill(owner.password);
    await expectAccessible(page);
    await screenshot(page, "register");
    await page.getByRole("button", { name: "Create account" }).click();
    await shows(page, /we sent a link to/i);
    expect(new URL(page.url()).pathname).toBe("/");

    // Confirm the address with the mailed link (to the web app's page: APP_URL is this session's address).
    const link = await mailedLink(owner.email, /confirm/i);
    expect(link.startsWith(`${base}/verify-email#token=`)).toBe(true);
    await page.goto(link);
    await page.getByRole("button", { name: "Confirm my address" }).click();
    await shows(page, `${owner.email} is confirmed`);
    expect(new URL(page.url()).hash).toBe("");
    await expectAccessible(page);
    await screenshot(page, "verify-email");

    // Upload a Markdown file and watch it become ready.
    await page.goto(`${base}/`);
    await page.getByLabel("Files to upload").setInputFiles({
      name: "heliotrope-plan.md",
      mimeType: "text/markdown",
      buffer: Buffer.from(HELIOTROPE_PLAN),
    });
    const row = page.locator(".documents li", { hasText: "heliotrope-plan.md" });
    await row.waitFor();
    await row.getByText("Ready").waitFor({ timeout: 60_000 });
    await expectAccessible(page);
    await screenshot(page, "library");

    // A reload keeps the session: the access token was in memory only, the stored refresh token
    // brings a new one.
    await page.reload();
    await page.locator(".documents li", { hasText: "heliotrope-plan.md" }).waitFor();
    expect(new URL(page.url()).pathname).toBe("/");

    // Search for a word of its text, and open the result.
    await page.getByRole("link", { name: "Search" }).click();
    // As the person types, the titles that start so are suggested (a <datalist>).
    await page.getByLabel("Search your documents").fill("helio");
    await page.locator('datalist#suggestions option[value="heliotrope-plan.md"]').waitFor({ state: "attached" });
    await page.getByLabel("Search your documents").fill("heliotrope");
    await page.getByRole("button", { name: "Search", exact: true }).click();
    const result = page.locator(".results li", { hasText: "heliotrope-plan.md" });
    await result.waitFor();
    expect(await result.locator("mark").count()).toBeGreaterThan(0);
    await expectAccessible(page);
    await screenshot(page, "search");
    await result.getByRole("link").click();

    // The document page renders the Markdown (as HTML, safely) and lists its one version.
    await page.getByRole("heading", { name: "Heliotrope plan" }).waitFor();
    expect(await page.locator(".markdown-preview strong").textContent()).toBe("heliotrope");
    await expectAccessible(page);
    await screenshot(page, "document");
    const documentPath = new URL(page.url()).pathname;

    // Download it: the bytes as uploaded, under the file's own name (not the title with another
    // extension added: "heliotrope-plan.md.md").
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Download" }).click(),
    ]);
    expect(download.suggestedFilename()).toBe("heliotrope-plan.md");
    expect(await readFile(await download.path(), "utf8")).toBe(HELIOTROPE_PLAN);

    // Share it with a second person, who then finds it in their library.
    const reader = newAccount("web-reader");
    await register(reader);
    await page.getByLabel("Email or username").fill(reader.username);
    await page.getByRole("button", { name: "Share", exact: true }).click();
    await page.locator(".shares li", { hasText: reader.username }).waitFor();

    const second = await openPage(chromium.browser, `${base}/sign-in`, PHONE);
    await second.page.getByLabel("Username or email").fill(reader.username);
    await second.page.getByLabel("Password").fill(reader.password);
    await expectAccessible(second.page);
    await screenshot(second.page, "sign-in-phone");
    await second.page.getByRole("button", { name: "Sign in", exact: true }).click();
    await shows(second.page, "heliotrope-plan.md");
    const width = await second.page.evaluate("document.documentElement.scrollWidth");
    expect(width).toBeLessThanOrEqual(PHONE.width);
    await expectAccessible(second.page);
    await screenshot(second.page, "library-phone");
    await second.page.getByRole("link", { name: "heliotrope-plan.md" }).click();
    expect(new URL(second.page.url()).pathname).toBe(documentPath);
    await second.page.getByRole("heading", { name: "Heliotrope plan" }).waitFor();
    expectNoProblems(second.problems);

    // Sign out: back at the sign-in page, and the library sends there again.
    await page.getByRole("button", { name: "Sign out", exact: true }).click();
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await page.goto(`${base}/`);
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    expect(new URL(page.url()).searchParams.get("next")).toBe("/");
    expectNoProblems(problems);
  });
});
