import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../../stack/ports.ts";
import { ROOT, startWranglerDev, type WranglerDev, waitUntilServing } from "../../stack/wrangler.ts";

const run = promisify(execFile);

/** A script's exit code and what it printed (stdout, and stderr as `err`), failing or not. */
async function script(file: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [path.join(ROOT, file), ...args], { cwd: ROOT });
    return { code: 0, out: stdout, err: stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, out: failed.stdout, err: failed.stderr };
  }
}

const commands = (out: string) =>
  out
    .split("\n")
    .filter((line) => line.startsWith("$ wrangler "))
    .map((line) => line.slice("$ wrangler ".length));

describe("npm run release -- --dry-run", () => {
  // The smoke check's target: the real API worker and processor in one `wrangler dev` session on the
  // test stack (as `npm run dev` serves them), its address its own PUBLIC_URL and token issuer.
  let api: WranglerDev;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "release-"));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    api = await startWranglerDev({
      configs: ["wrangler.toml", "workers/processor/wrangler.toml"],
      env: { ...inject("stack"), PUBLIC_URL: url, JWT_ISSUER: url, APP_URL: url },
      envFile: path.join(dir, "stack.env"),
      port,
      inspectorPort: await freePort(),
      persistTo: path.join(dir, "wrangler"),
      output: "ignore",
    });
    await waitUntilServing(`${url}/health`, api.process, 120_000);
  }, 150_000);
  afterAll(async () => {
    await api?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("uploads each worker, deploys it in steps with a passing smoke check between them, then its triggers", async () => {
    const { code, out } = await script("scripts/release.ts", [
      "--env",
      "production",
      "--dry-run",
      "--soak",
      "0",
      "--smoke-url",
      api.url,
    ]);
    expect(code, out).toBe(0);
    const flags = (config: string) => `--yes --config ${config} --env production`;
    const steps = (worker: string, config: string) => {
      const [old, next] = [`<current version of ${worker}>`, `<new version of ${worker}>`];
      return [
        `deployments status --json --config ${config} --env production`,
        `versions upload --config ${config} --env production`,
        `versions deploy ${old}@100% ${next}@0% ${flags(config)}`,
        `versions deploy ${old}@90% ${next}@10% ${flags(config)}`,
        `versions deploy ${old}@50% ${next}@50% ${flags(config)}`,
        `versions deploy ${next}@100% ${flags(config)}`,
        `triggers deploy --config ${config} --env production`,
      ];
    };
    expect(commands(out)).toEqual([
      ...steps("techcorp-api-production", "wrangler.toml"),
      ...steps("techcorp-processor-production", "workers/processor/wrangler.toml"),
    ]);
    // Before 100 %, the API's smoke requests ask for the new version by name.
    expect(out).toContain(
      `smoke: GET ${api.url}/ready (techcorp-api-production="<new version of techcorp-api-production>")`,
    );
    // Every step's check passed: 4 of the API's, 4 of the processor's (through the API's /ready).
    expect(out.match(/^smoke: passed$/gm)).toHaveLength(8);
    expect(out).toContain("released to production");
  });

  it("puts the previous version back at 100 % when the smoke check fails", async () => {
    // Nothing listens there: the new version cannot be reached.
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const { code, out } = await script("scripts/release.ts", [
      "--env",
      "staging",
      "--dry-run",
      "--soak",
      "0",
      "--steps",
      "10,100",
      "--smoke-url",
      nowhere,
    ]);
    expect(code).toBe(1);
    expect(out).toContain("smoke check failed at 10 %");
    expect(commands(out).at(-1)).toBe(
      "versions deploy <current version of techcorp-api-staging>@100% --yes --config wrangler.toml --env staging",
    );
    // The processor is not released after a failed API.
    expect(out).not.toContain("techcorp-processor-staging");
  });

  it("releases a Durable Object migration all at once with wrangler deploy", async () => {
    const { code, out } = await script("scripts/release.ts", ["--env", "staging", "--dry-run", "--all-at-once"]);
    expect(code, out).toBe(0);
    expect(commands(out)).toEqual([
      "deploy --config wrangler.toml --env staging",
      "deploy --config workers/processor/wrangler.toml --env staging",
    ]);
  });

  it("refuses an environment that is not a deployed one", async () => {
    const { code } = await script("scripts/release.ts", ["--env", "development", "--dry-run"]);
    expect(code).toBe(2);
  });
});

describe("the release's command line", () => {
  it.each([
    [["--steps", "0,abc,100"], /--steps must be percentages/],
    [["--steps", "10,50"], /--steps must rise and end at 100/],
    [["--steps", "0,50,50,100"], /--steps must rise and end at 100/],
    [["--steps", "0,150"], /--steps must be percentages/],
    [["--soak", "soon"], /--soak must be a whole number/],
    [["--step", "10"], /Unknown option '--step'/],
    [["--steps", "0x10,100"], /--steps must be percentages/],
    [["--soak", "1e3"], /--soak must be a whole number/],
    [["--env", "production"], /--env is given more than once/],
    [["--smoke-url", "notaurl"], /--smoke-url must be an http or https address/],
  ])("refuses %j with what is wrong and the usage, exit code 2, running nothing", async (args, problem) => {
    const { code, out, err } = await script("scripts/release.ts", ["--env", "staging", "--dry-run", ...args]);
    expect(code).toBe(2);
    expect(err).toMatch(problem);
    expect(err).toContain("usage: npm run release -- --env staging|production");
    expect(commands(out)).toEqual([]);
  });

  it("waits out no soak in a dry run, and says that nothing was released", async () => {
    // An hour's soak: a dry run that slept would time the test out.
    const { code, out } = await script("scripts/release.ts", ["--env", "staging", "--dry-run", "--soak", "3600"]);
    expect(code, out).toBe(0);
    expect(out.match(/soak: 3600 s \(not waited in a dry run\)/g)).toHaveLength(6);
    expect(out.trim().split("\n").at(-1)).toBe(
      "dry run: nothing was released to staging (the commands above are what a release runs)",
    );
  });

  it("prints its usage for --help, exit code 0", async () => {
    const { code, out } = await script("scripts/rollback.ts", ["--help"]);
    expect(code).toBe(0);
    expect(out).toContain("usage: npm run rollback -- --env staging|production");
  });
});

describe("npm run rollback -- --dry-run", () => {
  it("rolls back the processor, then the API, in one command", async () => {
    const { code, out } = await script("scripts/rollback.ts", ["--env", "production", "--dry-run"]);
    expect(code).toBe(0);
    expect(commands(out)).toEqual([
      "rollback --message rollback --yes --config workers/processor/wrangler.toml --env production",
      "rollback --message rollback --yes --config wrangler.toml --env production",
    ]);
  });
});
