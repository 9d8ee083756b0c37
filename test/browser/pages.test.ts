import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, inject, it } from "vitest";
import { accessToken, apiUrl, newAccount, registerVerified, totp } from "../clients/accounts.ts";
import { expectAccessible, expectNoProblems, openPage, PHONE, screenshot, useChromium } from "./browser.ts";

// The pages the everyday test does not pass through, signed in: the inbox with its badge,
// settings, and the administration's charts and users. Each checked by axe-core and photographed.

const chromium = useChromium();
const run = promisify(execFile);

/** Signs `account` in through the sign-in page of a fresh context opened at `path`. */
async function signedIn(account: { username: string; password: string }, path: string, viewport?: typeof PHONE) {
  const opened = await openPage(chromium.browser, `${apiUrl()}/sign-in?next=${encodeURIComponent(path)}`, viewport);
  await opened.page.getByLabel("Username or email").fill(account.username);
  await opened.page.getByLabel("Password").fill(account.password);
  await opened.page.getByRole("button", { name: "Sign in" }).click();
  await opened.page.waitForURL((url) => url.pathname === path);
  return opened;
}

describe("the public pages", () => {
  it("reset-password asks for an address and answers the same whether or not an account has it", {
    timeout: 60_000,
  }, async () => {
    const { page, problems } = await openPage(chromium.browser, `${apiUrl()}/reset-password`);
    await page.getByLabel("Your account's email address").fill("nobody-here@example.test");
    await expectAccessible(page);
    await screenshot(page, "reset-password");
    await page.getByRole("button", { name: "Send me a link" }).click();
    await page.getByRole("status").filter({ hasText: "If an active account has this address" }).waitFor();
    expectNoProblems(problems);
  });
});

describe("the signed-in pages", () => {
  it("the inbox lists the processing outcome, the header counts it unread, and marking all read clears the badge", {
    timeout: 90_000,
  }, async () => {
    const person = await registerVerified(newAccount("web-inbox"));
    const token = await accessToken(person);
    const upload = await fetch(`${apiUrl()}/documents?title=inbox-note`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "text/plain" },
      body: "a note for the inbox\n",
    });
    expect(upload.status).toBe(201);
    const { page, problems } = await signedIn(person, "/inbox");
    // The notification comes when processing ends; the page is read again until it shows.
    await expect
      .poll(
        async () => {
          await page.reload({ waitUntil: "networkidle" });
          return page.locator(".notifications li").filter({ hasText: "inbox-note" }).count();
        },
        { timeout: 30_000, interval: 1000 },
      )
      .toBeGreaterThan(0);
    await page.locator(".badge").waitFor();
    expect(await page.locator(".badge").textContent()).toMatch(/^\d+ unread$/);
    await expectAccessible(page);
    await screenshot(page, "inbox");
    await page.getByRole("button", { name: "Mark all read" }).click();
    await page.locator(".badge").waitFor({ state: "detached" });
    expectNoProblems(problems);
  });

  it("settings show the account and its sessions, on a phone too", { timeout: 60_000 }, async () => {
    const person = await registerVerified(newAccount("web-settings"));
    const { page, problems } = await signedIn(person, "/settings", PHONE);
    await page.locator(".sessions li").filter({ hasText: "this browser" }).waitFor();
    expect(await page.locator(".details").textContent()).toContain(person.email);
    await expectAccessible(page);
    await screenshot(page, "settings-phone");
    expectNoProblems(problems);
  });

  it("administration: the metrics as charts with their numbers, the users with their roles", {
    timeout: 60_000,
  }, async () => {
    const admin = await registerVerified(newAccount("web-admin"));
    await run(process.execPath, ["scripts/make-admin.ts", admin.email], {
      env: { ...process.env, DATABASE_URL: inject("stack").DATABASE_URL_UNPOOLED },
    });
    // A staff account must turn on a second factor before anything else (README, "Required
    // actions"): the page says so and links to the settings, where the person enrols.
    const { page, problems } = await signedIn(admin, "/admin");
    await page.getByRole("alert").filter({ hasText: "two-factor" }).waitFor();
    await expectAccessible(page);
    await page.getByRole("link", { name: "Go to Settings" }).click();
    await page.getByRole("button", { name: "Set up two-factor authentication" }).click();
    const secret = (await page.locator("code.secret").textContent()) ?? "";
    await page.getByLabel("The 6-digit code the app shows").fill(totp(secret, Math.floor(Date.now() / 30_000)));
    await expectAccessible(page);
    await screenshot(page, "two-factor-setup");
    await page.getByRole("button", { name: "Turn on" }).click();
    await page.locator(".recovery-codes li").first().waitFor();
    expect(await page.locator(".recovery-codes li").count()).toBeGreaterThanOrEqual(8);
    await page.getByRole("link", { name: "Admin" }).click();
    await page.locator("figure.chart canvas").first().waitFor();
    expect(await page.locator("figure.chart").count()).toBe(2);
    expect(await page.locator(".stats dd").first().textContent()).toMatch(/^\d+$/);
    await expectAccessible(page);
    await screenshot(page, "admin");
    await page.getByRole("link", { name: "Users" }).click();
    await page.getByRole("cell", { name: admin.username, exact: true }).waitFor();
    await expectAccessible(page);
    await screenshot(page, "admin-users");
    // The one refusal was the required action's 403 before the enrolment.
    expect(problems.failedRequests.every((line) => line.endsWith(": 403"))).toBe(true);
    expectNoProblems({
      ...problems,
      failedRequests: [],
      consoleErrors: problems.consoleErrors.filter((line) => !line.includes("403")),
    });
  });
});
