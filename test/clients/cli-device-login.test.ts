import { execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { decodeHTML } from "entities";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../eventually.ts";
import { apiUrl, newAccount, register, type TestAccount } from "./accounts.ts";

// `techcorp login` with the device flow (RFC 8628), as a person does it: the CLI prints an address
// and a code and waits; the person opens the address, signs in and approves; the CLI then holds a
// session of its own client, which it refreshes with that client's refresh grant. The pages are
// the server's own, posted as their forms post: with the CSRF cookie they set, from this origin.

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

/** The hidden fields of a page's form, by name. */
function hiddenFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [, name = "", value = ""] of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)" \/>/g)) {
    fields[decodeHTML(name)] = decodeHTML(value);
  }
  return fields;
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

    // The verification page, at the API's public address (the session's own): the code is filled in.
    expect(new URL(address).origin).toBe(apiUrl());
    const page = await fetch(address);
    const html = await page.text();
    expect(html).toContain(`value="${userCode}"`);
    const cookie = page.headers
      .getSetCookie()
      .map((line) => line.split(";")[0])
      .join("; ");
    const post = (fields: Record<string, string>) =>
      fetch(`${apiUrl()}/auth/device`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", cookie, origin: apiUrl() },
        body: new URLSearchParams(fields),
        redirect: "manual",
      });
    const consent = await post({
      ...hiddenFields(html),
      user_code: userCode,
      username: person.username,
      password: person.password,
      decision: "approve",
    });
    const consentPage = await consent.text();
    expect(consentPage, consentPage).toContain("Allow access?");
    expect(consentPage).toContain("TechCorp CLI");
    const approved = await post({ ...hiddenFields(consentPage), decision: "approve" });
    expect(await approved.text()).toContain("Device approved");

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
