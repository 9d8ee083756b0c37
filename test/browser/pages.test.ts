import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Page } from "playwright-core";
import { describe, expect, inject, it } from "vitest";
import { accessToken, apiUrl, newAccount, registerVerified, totp } from "../clients/accounts.ts";
import { corruptPdf, pdf } from "../fixtures/pdf.ts";
import { expectAccessible, expectNoProblems, openPage, PHONE, POLL, screenshot, useChromium } from "./browser.ts";

// The pages the everyday test does not pass through, signed in: the inbox with its badge,
// settings, a PDF's preview (and a damaged one's), and the administration's charts and users. Each
// checked by axe-core and photographed.

const chromium = useChromium();
const run = promisify(execFile);

/** Signs `account` in through the sign-in page of a fresh context opened at `path`. */
async function signedIn(account: { username: string; password: string }, path: string, viewport?: typeof PHONE) {
  const opened = await openPage(chromium.browser, `${apiUrl()}/sign-in?next=${encodeURIComponent(path)}`, viewport);
  await opened.page.getByLabel("Username or email").fill(account.username);
  await opened.page.getByLabel("Password").fill(account.password);
  await opened.page.getByRole("button", { name: "Sign in", exact: true }).click();
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

describe("registration of a taken address", () => {
  it("says to read the mail sent to it, not that a password is wrong", { timeout: 60_000 }, async () => {
    const owner = await registerVerified(newAccount("web-taken"));
    const late = newAccount("web-late");
    const { page, problems } = await openPage(chromium.browser, `${apiUrl()}/register`);
    await page.getByLabel("Email").fill(owner.email);
    await page.getByLabel("Username").fill(late.username);
    await page.getByLabel("Password").fill(late.password);
    await page.getByRole("button", { name: "Create account" }).click();
    await page
      .getByRole("status")
      .filter({ hasText: `We sent a message to ${owner.email}` })
      .waitFor(POLL);
    expect(await page.getByRole("alert").count()).toBe(0);
    expect(new URL(page.url()).pathname).toBe("/register");
    await expectAccessible(page);
    // A taken username with its owner's password and a new address: the owner's account stays
    // closed to the registration form (it signs in by the new address, which has no account).
    await page.getByLabel("Email").fill(late.email);
    await page.getByLabel("Username").fill(owner.username);
    await page.getByLabel("Password").fill(owner.password);
    await page.getByRole("button", { name: "Create account" }).click();
    await page
      .getByRole("status")
      .filter({ hasText: `We sent a message to ${late.email}` })
      .waitFor(POLL);
    expect(await page.locator(".username").count()).toBe(0);
    // The refused sign-ins of the accounts that were not created are the expected failures.
    expect(problems.failedRequests).toEqual([
      expect.stringMatching(/^POST .*\/auth\/token: 400$/),
      expect.stringMatching(/^POST .*\/auth\/token: 400$/),
    ]);
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

  it("a long unbroken title and display name wrap or are cut, never widening the page (desktop and phone)", {
    timeout: 90_000,
  }, async () => {
    const person = await registerVerified(newAccount("web-long"));
    const token = await accessToken(person);
    const headers = { authorization: `Bearer ${token}` };
    const renamed = await fetch(`${apiUrl()}/users/me`, {
      method: "PATCH",
      headers: { ...headers, "content-type": "application/json" },
      body: JSON.stringify({ displayName: "W".repeat(100) }),
    });
    expect(renamed.status).toBe(200);
    const title = `${"longname".repeat(30)}.txt`;
    const upload = await fetch(`${apiUrl()}/documents?title=${title}`, {
      method: "POST",
      headers: { ...headers, "content-type": "text/plain" },
      body: "a document with a long name\n",
    });
    expect(upload.status).toBe(201);
    const { id } = (await upload.json()) as { id: string };
    // How far the page is wider than the window (px); a string, as this program has no DOM types.
    const overflow = (page: Page) =>
      page.evaluate<number>("document.documentElement.scrollWidth - document.documentElement.clientWidth");
    for (const viewport of [undefined, PHONE]) {
      for (const path of ["/", `/library/${id}`, "/settings"]) {
        const { page, problems } = await signedIn(person, path, viewport);
        await page
          .locator("main")
          .getByText(path === "/settings" ? person.email : title)
          .first()
          .waitFor(POLL);
        // Polled: the page settles as its data arrives; a real overflow stays and fails.
        await expect.poll(() => overflow(page), { message: `${path} at ${viewport?.width ?? 1280} px` }).toBe(0);
        await expect.poll(() => page.getByRole("button", { name: "Sign out", exact: true }).isVisible()).toBe(true);
        const signOut = await page.getByRole("button", { name: "Sign out", exact: true }).boundingBox();
        expect((signOut?.x ?? 0) + (signOut?.width ?? 0)).toBeLessThanOrEqual(viewport?.width ?? 1280);
        expectNoProblems(problems);
        await page.context().close();
      }
    }
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

  it("a session the server cannot resume just now (429) is kept: the sign-in page says so, and a reload later resumes it", {
    timeout: 60_000,
  }, async () => {
    const person = await registerVerified(newAccount("web-resume"));
    const { page, problems } = await signedIn(person, "/inbox");
    // The rate limiter refuses the refresh a reload makes (as it would for a busy address).
    await page.route("**/auth/refresh", (route) =>
      route.fulfill({
        status: 429,
        headers: { "content-type": "application/problem+json", "retry-after": "30" },
        body: JSON.stringify({ type: "/problems/rate_limited", title: "Too Many Requests", status: 429 }),
      }),
    );
    await page.reload({ waitUntil: "networkidle" });
    await page.getByText("Your session could not be resumed just now").waitFor(POLL);
    expect(new URL(page.url()).pathname).toBe("/sign-in");
    await page.unroute("**/auth/refresh");
    await page.goto(`${apiUrl()}/inbox`, { waitUntil: "networkidle" });
    await page.locator(".username").getByText(person.username).waitFor(POLL);
    expect(new URL(page.url()).pathname).toBe("/inbox");
    // The refused refresh is the one failure, on purpose; Chromium logs it as well.
    expect(problems.failedRequests).toEqual([expect.stringMatching(/^POST .*\/auth\/refresh: 429$/)]);
    expectNoProblems({
      ...problems,
      failedRequests: [],
      consoleErrors: problems.consoleErrors.filter((line) => !line.includes("429")),
    });
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

/** Uploads `bytes` as a PDF of `token`'s account and waits until its processing ends. */
async function uploadedPdf(token: string, title: string, bytes: Uint8Array) {
  const headers = { authorization: `Bearer ${token}` };
  const upload = await fetch(`${apiUrl()}/documents?title=${encodeURIComponent(title)}`, {
    method: "POST",
    headers: { ...headers, "content-type": "application/pdf" },
    body: bytes,
  });
  expect(upload.status).toBe(201);
  const { id } = (await upload.json()) as { id: string };
  let document: { id: string; status: string; failureReason: string | null } | undefined;
  await expect
    .poll(
      async () => {
        document = (await (await fetch(`${apiUrl()}/documents/${id}`, { headers })).json()) as typeof document;
        return document?.status;
      },
      { timeout: 60_000, interval: 500 },
    )
    .toMatch(/^(ready|quarantined|failed)$/);
  if (!document) throw new Error(`document ${id} was never read`);
  return document;
}

/** The lines of the PDF the preview test draws: enough ink to see, at a known place on the page. */
const REPORT_LINES = ["Heliotrope quarterly report", "Revenue grew in every region.", "WWWWWWWWWWWWWWWWWWWW"];

/**
 * What the PDF preview's canvas holds (a string: this program is type-checked without the DOM's
 * types): its size in device pixels and on screen, how many of its pixels are opaque white (the
 * page's paper) and dark (ink: every channel below 128), and the box around the dark ones, as
 * fractions of the width and height. `null` while it has no size.
 */
const CANVAS_CONTENT = `(() => {
  const canvas = document.querySelector(".preview canvas.pdf-page");
  if (!canvas || canvas.width === 0 || canvas.height === 0) return null;
  const { width, height } = canvas;
  const { data } = canvas.getContext("2d").getImageData(0, 0, width, height);
  let white = 0, dark = 0, left = width, top = height, right = -1, bottom = -1;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] < 255) continue;
    const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
    if (r === 255 && g === 255 && b === 255) white += 1;
    if (r < 128 && g < 128 && b < 128) {
      dark += 1;
      const x = (i / 4) % width, y = Math.floor(i / 4 / width);
      left = Math.min(left, x); right = Math.max(right, x);
      top = Math.min(top, y); bottom = Math.max(bottom, y);
    }
  }
  const shown = canvas.getBoundingClientRect();
  return {
    width, height, shownWidth: shown.width, shownHeight: shown.height,
    white: white / (width * height), dark: dark / (width * height),
    ink: { left: left / width, right: right / width, top: top / height, bottom: bottom / height },
  };
})()`;

interface CanvasContent {
  width: number;
  height: number;
  shownWidth: number;
  shownHeight: number;
  white: number;
  dark: number;
  ink: { left: number; right: number; top: number; bottom: number };
}

describe("the document page's preview of a PDF", () => {
  it("draws the first page on a canvas: the page's proportions, white paper, its text where the PDF puts it", {
    timeout: 120_000,
  }, async () => {
    const person = await registerVerified(newAccount("web-pdf"));
    const document = await uploadedPdf(await accessToken(person), "heliotrope-report.pdf", pdf(REPORT_LINES));
    expect(document.status).toBe("ready");
    const { page, problems } = await signedIn(person, `/library/${document.id}`);
    await page.getByRole("heading", { name: "heliotrope-report.pdf" }).waitFor();
    await page.getByRole("img", { name: "First page of heliotrope-report.pdf" }).waitFor();
    // pdf.js draws after loading and parsing: read the canvas until ink shows.
    await expect
      .poll(async () => ((await page.evaluate(CANVAS_CONTENT)) as CanvasContent | null)?.dark ?? 0, POLL)
      .toBeGreaterThan(0);
    const canvas = (await page.evaluate(CANVAS_CONTENT)) as CanvasContent;
    // A US Letter page, 612 × 792 points, drawn 480 CSS pixels wide (device pixel ratio 1).
    expect(canvas.width).toBe(480);
    expect(canvas.width / canvas.height).toBeCloseTo(612 / 792, 2);
    expect(canvas.shownWidth).toBeGreaterThan(0);
    expect(canvas.shownWidth / canvas.shownHeight).toBeCloseTo(612 / 792, 2);
    // Mostly paper, and some ink: not a blank (transparent) or filled canvas.
    expect(canvas.white).toBeGreaterThan(0.9);
    expect(canvas.dark).toBeGreaterThan(0.002);
    // The text starts 72 pt (1 inch) from the left edge and its first line sits about 1 inch from
    // the top: the ink is where the PDF puts it, in the page's upper left.
    expect(canvas.ink.left).toBeGreaterThan(70 / 612);
    expect(canvas.ink.left).toBeLessThan(80 / 612);
    expect(canvas.ink.top).toBeGreaterThan(60 / 792);
    expect(canvas.ink.top).toBeLessThan(100 / 792);
    expect(canvas.ink.bottom).toBeLessThan(160 / 792);
    expect(canvas.ink.right).toBeLessThan(0.75);
    await expectAccessible(page);
    await screenshot(page, "document-pdf");
    expectNoProblems(problems);
  });

  it("a damaged PDF ends failed, and its page says there is no preview and why", { timeout: 120_000 }, async () => {
    const person = await registerVerified(newAccount("web-pdf-damaged"));
    const document = await uploadedPdf(await accessToken(person), "damaged-scan.pdf", corruptPdf());
    expect(document).toMatchObject({ status: "failed", failureReason: "unsupported_content" });
    const { page, problems } = await signedIn(person, `/library/${document.id}`);
    await page.getByRole("heading", { name: "damaged-scan.pdf" }).waitFor();
    await page.locator(".details").getByText("Failed").waitFor();
    const preview = page.getByRole("region", { name: "Preview" });
    await preview.getByText("No preview: this file could not be processed").waitFor();
    expect(await preview.locator("canvas").count()).toBe(0);
    await expectAccessible(page);
    await screenshot(page, "document-pdf-damaged");
    expectNoProblems(problems);
  });

  it("a PDF the browser cannot read shows a message instead of a blank canvas", { timeout: 120_000 }, async () => {
    const person = await registerVerified(newAccount("web-pdf-unreadable"));
    const document = await uploadedPdf(await accessToken(person), "unreadable.pdf", pdf(REPORT_LINES));
    expect(document.status).toBe("ready");
    const { page, problems } = await signedIn(person, "/");
    // The stored file is fine (the processor read it); what reaches the page is not: its bytes
    // damaged on the way.
    await page.route(`**/documents/${document.id}/content`, (route) =>
      route.fulfill({ status: 200, contentType: "application/pdf", body: Buffer.from(corruptPdf()) }),
    );
    await page.goto(`${apiUrl()}/library/${document.id}`);
    await page.getByRole("heading", { name: "unreadable.pdf" }).waitFor();
    const preview = page.getByRole("region", { name: "Preview" });
    await preview.getByText("The PDF could not be previewed").waitFor();
    expect(await preview.locator("canvas").count()).toBe(0);
    await expectAccessible(page);
    await screenshot(page, "document-pdf-unreadable");
    expectNoProblems(problems);
  });

  it("a file named .pdf that is not one is refused at upload, with the reason shown", { timeout: 60_000 }, async () => {
    const person = await registerVerified(newAccount("web-pdf-fake"));
    const { page, problems } = await signedIn(person, "/");
    await page.getByLabel("Files to upload").setInputFiles({
      name: "not-really.pdf",
      mimeType: "application/pdf",
      buffer: Buffer.from("Just some notes, saved with the wrong name.\n"),
    });
    const row = page.locator(".upload-queue li", { hasText: "not-really.pdf" });
    await row.getByText("Failed").waitFor();
    expect(await row.getByRole("alert").textContent()).toMatch(/declared application\/pdf, but the content is/);
    await expectAccessible(page);
    await screenshot(page, "library-upload-refused");
    // The one refusal is the upload's 415, which the page shows.
    expect(problems.failedRequests).toEqual([expect.stringMatching(/^POST .*\/documents: 415$/)]);
    expectNoProblems({
      ...problems,
      failedRequests: [],
      consoleErrors: problems.consoleErrors.filter((line) => !line.includes("status of 415")),
    });
  });
});
