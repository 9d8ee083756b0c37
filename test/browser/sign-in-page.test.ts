import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { apiUrl, newAccount, register } from "../clients/accounts.ts";
import { expectAccessible, expectNoProblems, openPage, POLL, screenshot, useChromium } from "./browser.ts";

// The web app's other way in: the API's sign-in page (the authorization code flow with PKCE, back
// at /sign-in/callback), which takes a password and offers the OpenID providers (the local stack
// runs one, stack/oidc-provider.ts). Real form posts and redirects in Chromium.

const chromium = useChromium();

/** From the app's sign-in page to the API's: the authorization endpoint with the web app's request. */
async function openSignInPage(page: Page) {
  await page.getByRole("button", { name: "Sign in with single sign-on or another provider" }).click();
  await page.getByRole("heading", { name: "Sign in" }).waitFor(POLL);
  await expect.poll(() => new URL(page.url()).pathname).toBe("/auth/authorize");
  const request = new URL(page.url()).searchParams;
  expect(Object.fromEntries(request)).toMatchObject({
    client_id: "techcorp-first-party",
    redirect_uri: `${apiUrl()}/sign-in/callback`,
    response_type: "code",
    code_challenge_method: "S256",
  });
  expect(request.get("scope")?.split(" ")).toEqual(expect.arrayContaining(["openid", "read", "write"]));
}

/** Back in the app, signed in as `name`, on the page it had asked for. */
async function signedInAs(page: Page, name: string, path: string) {
  await page.locator(".username").getByText(name).waitFor(POLL);
  expect(new URL(page.url()).pathname).toBe(path);
  // The code does not stay in the address bar or the history.
  expect(new URL(page.url()).search).toBe("");
}

describe("the web app signed in through the API's sign-in page", () => {
  it("with a password: back where the person was going, the session kept across a reload", {
    timeout: 60_000,
  }, async () => {
    const person = newAccount("page-password");
    await register(person);
    const { page, problems } = await openPage(chromium.browser, `${apiUrl()}/sign-in?next=%2Finbox`);
    await openSignInPage(page);
    await expectAccessible(page);
    await screenshot(page, "authorization-sign-in");
    await page.getByLabel("Email or username").fill(person.username);
    await page.getByLabel("Password").fill(person.password);
    await page.getByRole("button", { name: "Continue" }).click();
    await signedInAs(page, person.username, "/inbox");
    await page.reload({ waitUntil: "networkidle" });
    await signedInAs(page, person.username, "/inbox");
    // Back to the callback (the used code in the address): signed in already, the app moves on.
    await page.goto(`${apiUrl()}/sign-in/callback?code=used&state=old`, { waitUntil: "networkidle" });
    await signedInAs(page, person.username, "/");
    expectNoProblems(problems);
  });

  it("with an OpenID provider: a new account for its verified address, signed in", { timeout: 60_000 }, async () => {
    const email = `${newAccount("page-provider").username}@example.com`;
    const { page, problems } = await openPage(chromium.browser, `${apiUrl()}/sign-in`);
    await openSignInPage(page);
    await page.getByRole("link", { name: "Continue with Local OpenID provider" }).click();
    // The provider's own page (another origin): it asks who to sign in as.
    await page.getByRole("textbox").fill(email);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await signedInAs(page, email.split("@")[0] ?? "", "/");
    await screenshot(page, "provider-signed-in");
    expectNoProblems(problems);
  });

  it("Cancel on the sign-in page comes back to the app saying so, signed out", { timeout: 60_000 }, async () => {
    const { page, problems } = await openPage(chromium.browser, `${apiUrl()}/sign-in`);
    await openSignInPage(page);
    await page.getByRole("button", { name: "Cancel" }).click();
    await page.getByRole("alert").getByText("You cancelled the sign-in.").waitFor(POLL);
    await page.getByRole("heading", { name: "Not signed in" }).waitFor(POLL);
    expect(new URL(page.url()).pathname).toBe("/sign-in/callback");
    await expectAccessible(page);
    await page.getByRole("link", { name: "Back to sign-in" }).click();
    await page.getByRole("button", { name: "Sign in", exact: true }).waitFor(POLL);
    expectNoProblems(problems);
  });
});
