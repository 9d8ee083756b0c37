import { execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectAccessible, expectNoProblems, openPage, POLL, screenshot, useChromium } from "../browser/browser.ts";
import { eventually } from "../eventually.ts";
import { apiUrl, newAccount, register, type TestAccount } from "./accounts.ts";

// `techcorp login` with the device flow (RFC 8628), as a person does it: the CLI prints an address
// and a code and waits; the person opens the address, signs in and approves; the CLI then holds a
// session of its own client, which it refreshes with that client's refresh grant. The pages are
// the server's own, used in Chromium.

const chromium = useChromium();

const BIN = path.resolve(import.meta.dirname, "../../packages/cli/bin/techcorp.ts");

let configDirectory: string;
let person: TestAccount;

beforeAll(async () => {
  configDirectory = await mkdtemp(path.join(tmpdir(), "techcorp-device-"));
  person = newAccount("device");
  await register(person);
});

afterAll(async () => {
  await rm(configDirectory, { recursive: true, force: true });
});

const environment = () => ({ ...process.env, TECHCORP_CONFIG_DIR: configDirectory, TECHCORP_API_URL: apiUrl() });

function techcorp(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], { env: environment(), timeout: 60_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== "number") return reject(error);
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

describe("techcorp login with the device flow", () => {
  it("prints an address and a code, is approved on the verification page, then signs in and refreshes as the CLI's client", {
    timeout: 120_000,
  }, async () => {
    const login = spawn(process.execPath, [BIN, "login"], { env: environment() });
    let stderr = "";
    login.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    const exited = new Promise<number | null>((resolve) => login.on("close", resolve));
    const address = await eventually(async () => /open (http\S+)/.exec(stderr)?.[1], 30_000);
    const userCode = /the code (\S+)/.exec(stderr)?.[1] ?? "";
    expect(userCode).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);

    // The verification page, at the API's public address (the session's own), in Chromium: the code
    // is filled in; the person signs in and approves with the page's own forms (real posts, with
    // the headers a browser sends: the CSRF check reads their Origin).
    expect(new URL(address).origin).toBe(apiUrl());
    const { page, problems } = await openPage(chromium.browser, address);
    await expect.poll(() => page.getByLabel("Code").inputValue()).toBe(userCode);
    await page.getByLabel("Email or username").fill(person.username);
    await page.getByLabel("Password").fill(person.password);
    await expectAccessible(page);
    await screenshot(page, "device-verification");
    await page.getByRole("button", { name: "Approve" }).click();
    await page.getByRole("heading", { name: "Allow access?" }).waitFor(POLL);
    await expect.poll(() => page.locator("main").textContent()).toContain("TechCorp CLI");
    await expectAccessible(page);
    await screenshot(page, "device-consent");
    await page.getByRole("button", { name: "Approve" }).click();
    await page.getByText("Device approved").first().waitFor(POLL);
    expectNoProblems(problems);
    await page.context().close();

    expect(await exited, stderr).toBe(0);
    const me = await techcorp(["whoami", "--json"]);
    expect(me.code, me.stderr).toBe(0);
    expect(JSON.parse(me.stdout)).toMatchObject({ username: person.username });

    // The stored session is the CLI's client's: with its access token expired, the next command
    // refreshes it with the refresh grant naming that client, and stores the rotated refresh token.
    const file = path.join(configDirectory, "credentials.json");
    const stored = JSON.parse(await readFile(file, "utf8")) as { clientId: string; refreshToken: string };
    expect(stored.clientId).toBe("techcorp-cli");
    await writeFile(file, JSON.stringify({ ...stored, accessTokenExpiresAt: 0 }), { mode: 0o600 });
    expect((await techcorp(["whoami"])).code).toBe(0);
    const refreshed = JSON.parse(await readFile(file, "utf8")) as {
      refreshToken: string;
      accessTokenExpiresAt: number;
    };
    expect(refreshed.refreshToken).not.toBe(stored.refreshToken);
    expect(refreshed.accessTokenExpiresAt).toBeGreaterThan(Date.now());
  });
});
