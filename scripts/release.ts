// `npm run release -- --env staging|production`: a gradual release of both workers (README,
// "Deploying for real"). For each worker: `wrangler versions upload`, then `wrangler versions
// deploy` in steps (0 % → 10 % → 50 % → 100 % by default), a smoke check of the new version between
// steps (its requests carry `Cloudflare-Workers-Version-Overrides`, so they reach the new version
// whatever its share), then `wrangler triggers deploy` for what is not versioned (routes, cron
// schedules, queue consumers). A failed smoke check puts the previous version back at 100 % and
// exits 1. `--dry-run` runs everything but wrangler: it prints each wrangler command it would run,
// and still sends the smoke requests when `--smoke-url` is given.
//
// What cannot be split by percentage, and how this script handles it:
// - Durable Object migrations (a new, renamed or deleted class): `wrangler versions upload`
//   refuses them (error 10211). Release such a change alone with `--all-at-once`, which runs
//   `wrangler deploy` (100 % at once, the migration applied); the gradual flow resumes after it.
// - Each Durable Object runs one version at a time: a split assigns objects, not requests.
// - Queue consumers and cron schedules belong to the worker, not to a version: their settings
//   (batch size, retries, dead-letter queue, schedules) change with `wrangler triggers deploy`, at
//   once, after the new version has reached 100 %.
// - The processor has no HTTP address, so no request can carry a version override to it: it is
//   released after the API, in the same steps, and the smoke check between its steps is the API's
//   `/ready`, which shows the queue takes messages but does not wait for a processor to consume
//   them: the new processor is tested by staging's end-to-end job and its heartbeat alert.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { serializeDictionary } from "structured-headers";
import { DEPLOYED_ENVIRONMENTS, type DeployedEnvironment, resourcesOf } from "../src/pkg/config/environments.ts";
import { ROOT } from "../stack/wrangler.ts";
import { buildWeb } from "../web/build/build.ts";
import { badUsage, decimal, integerOption, orUsage, scriptArgs, UsageError } from "./args.ts";
import { ENVIRONMENTS, environmentProblems, WORKERS } from "./environments.ts";

const WRANGLER = path.join(ROOT, "node_modules/wrangler/bin/wrangler.js");

export interface ReleaseOptions {
  environment: DeployedEnvironment;
  /** Percentages of traffic the new version is given, in order; the last must be 100. */
  steps: number[];
  /** Print the wrangler commands instead of running them. */
  dryRun: boolean;
  /**
   * The API's address for the smoke checks (the CLI's default: the environment's PUBLIC_URL). A dry
   * run without one prints the requests it would send.
   */
  smokeUrl?: string;
  /** Seconds to wait after each step before its smoke check: errors need traffic to show. */
  soakSeconds: number;
  /** `wrangler deploy` instead of versions: a release with a Durable Object migration. */
  allAtOnce: boolean;
  /** Attached to the versions (`--tag`, `--message`): the commit, say. */
  tag?: string;
  message?: string;
}

/** One wrangler command; in a dry run printed as `$ wrangler …` and not run. */
function wrangler(args: string[], options: ReleaseOptions, env: Record<string, string> = {}): string {
  console.log(`$ wrangler ${args.join(" ")}`);
  if (options.dryRun) return "";
  return execFileSync(process.execPath, [WRANGLER, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
}

/** The version now serving most of the worker's traffic (`wrangler deployments status --json`). */
function currentVersion(worker: string, config: string, options: ReleaseOptions): string {
  const out = wrangler(["deployments", "status", "--json", "--config", config, "--env", options.environment], options);
  if (options.dryRun) return `<current version of ${worker}>`;
  const status = JSON.parse(out) as { versions: { version_id: string; percentage: number }[] };
  const [current] = [...status.versions].sort((a, b) => b.percentage - a.percentage);
  if (!current)
    throw new Error(`${worker} has no deployment: the first one must be \`wrangler deploy\` (--all-at-once)`);
  return current.version_id;
}

/** Uploads a version without deploying it; its id, read from wrangler's output file. */
function uploadVersion(worker: string, config: string, options: ReleaseOptions): string {
  const dir = mkdtempSync(path.join(tmpdir(), "release-"));
  const outputFile = path.join(dir, "wrangler-output.json");
  try {
    const args = ["versions", "upload", "--config", config, "--env", options.environment];
    if (options.tag) args.push("--tag", options.tag);
    if (options.message) args.push("--message", options.message);
    try {
      wrangler(args, options, { WRANGLER_OUTPUT_FILE_PATH: outputFile });
    } catch (error) {
      throw new Error(
        `${worker}: the upload failed. If it holds a Durable Object migration (error 10211), release it alone with --all-at-once.`,
        { cause: error },
      );
    }
    if (options.dryRun) return `<new version of ${worker}>`;
    // One JSON object per line; the upload's names its version.
    const upload = readFileSync(outputFile, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { type: string; version_id?: string })
      .find((entry) => entry.type === "version-upload");
    if (!upload?.version_id) throw new Error(`${worker}: wrangler did not report the uploaded version`);
    return upload.version_id;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `wrangler versions deploy` of a split: `[version id, percentage]`s adding up to 100. A version at
 * 0 % stays in the deployment, so that version overrides (the smoke check) can reach it.
 */
function deployVersions(config: string, split: [string, number][], options: ReleaseOptions): void {
  const specs = split.map(([version, percentage]) => `${version}@${percentage}%`);
  const args = ["versions", "deploy", ...specs, "--yes", "--config", config, "--env", options.environment];
  if (options.message) args.push("--message", options.message);
  wrangler(args, options);
}

const SMOKE_PATHS = ["/health", "/ready", "/.well-known/openid-configuration", "/openapi.json"];

/** `Cloudflare-Workers-Version-Overrides`: an RFC 8941 dictionary, worker name → version id (a string). */
function overrideHeader(overrides: Record<string, string>): string | undefined {
  if (Object.keys(overrides).length === 0) return undefined;
  return serializeDictionary(
    Object.fromEntries(Object.entries(overrides).map(([worker, version]) => [worker, String(version)])),
  );
}

export interface SmokeResult {
  path: string;
  status: number | "unreachable";
  ok: boolean;
  why?: string;
}

/**
 * The smoke check of one API version: liveness, readiness (Postgres, Redis, S3, and that a message
 * can be put on the queue), the OpenID metadata (its issuer must be the address checked: the
 * right environment's configuration) and the OpenAPI document. `overrides` (worker → version id)
 * goes in `Cloudflare-Workers-Version-Overrides`, an RFC 8941 dictionary of strings.
 */
export async function smokeCheck(baseUrl: string, overrides: Record<string, string>): Promise<SmokeResult[]> {
  const headers: Record<string, string> = { "user-agent": "techcorp-release-smoke" };
  const override = overrideHeader(overrides);
  if (override) headers["cloudflare-workers-version-overrides"] = override;
  const origin = new URL(baseUrl).origin;
  const field = async (response: Response, name: string) => ((await response.json()) as Record<string, unknown>)[name];
  const checks: { path: string; check: (response: Response) => Promise<string | undefined> }[] = [
    { path: "/health", check: async (r) => ((await field(r, "status")) === "ok" ? undefined : "not ok") },
    { path: "/ready", check: async (r) => ((await field(r, "status")) === "ready" ? undefined : "not ready") },
    {
      path: "/.well-known/openid-configuration",
      check: async (r) => {
        const issuer = await field(r, "issuer");
        return issuer === origin ? undefined : `issuer ${String(issuer)} is not ${origin}`;
      },
    },
    { path: "/openapi.json", check: async (r) => ((await field(r, "openapi")) ? undefined : "no OpenAPI document") },
  ];
  const results: SmokeResult[] = [];
  for (const { path: route, check } of checks) {
    console.log(`smoke: GET ${origin}${route}${override ? ` (${override})` : ""}`);
    try {
      const response = await fetch(`${origin}${route}`, { headers, signal: AbortSignal.timeout(30_000) });
      const why = response.status === 200 ? await check(response) : `status ${response.status}`;
      results.push({ path: route, status: response.status, ok: why === undefined, why });
    } catch (error) {
      // fetch's "fetch failed" says nothing: its cause (ECONNREFUSED, ENOTFOUND, a timeout) does.
      const cause = (error as { cause?: unknown }).cause;
      results.push({ path: route, status: "unreachable", ok: false, why: String(cause ?? error) });
    }
  }
  return results;
}

const sleep = (seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

/** Runs the smoke check; a new deployment can take a few seconds to reach every location. */
async function smokeUntilPassing(options: ReleaseOptions, overrides: Record<string, string>): Promise<boolean> {
  const smokeUrl = options.smokeUrl;
  if (smokeUrl === undefined) {
    console.log(
      `smoke: not sent (a dry run without --smoke-url): ${SMOKE_PATHS.join(", ")} ${overrideHeader(overrides) ?? ""}`,
    );
    return true;
  }
  for (let attempt = 1; attempt <= 3; attempt++) {
    const results = await smokeCheck(smokeUrl, overrides);
    const failed = results.filter((result) => !result.ok);
    for (const result of failed) console.log(`smoke: ${result.path} failed: ${result.why}`);
    if (failed.length === 0) {
      console.log("smoke: passed");
      return true;
    }
    if (attempt < 3) await sleep(5);
  }
  return false;
}

/** Releases one worker in steps; false when a smoke check failed (the old version is back at 100 %). */
async function releaseWorker(worker: "api" | "processor", config: string, options: ReleaseOptions): Promise<boolean> {
  const resources = resourcesOf(options.environment);
  const name = worker === "api" ? resources.apiWorker : resources.processorWorker;
  console.log(`\n== ${name} (${options.environment}) ==`);
  if (options.allAtOnce) {
    wrangler(["deploy", "--config", config, "--env", options.environment], options);
    return smokeUntilPassing(options, {});
  }
  const previous = currentVersion(name, config, options);
  const next = uploadVersion(name, config, options);
  for (const step of options.steps) {
    const split: [string, number][] =
      step === 100
        ? [[next, 100]]
        : [
            [previous, 100 - step],
            [next, step],
          ];
    deployVersions(config, split, options);
    if (options.soakSeconds > 0 && step > 0) {
      if (options.dryRun) console.log(`soak: ${options.soakSeconds} s (not waited in a dry run)`);
      else await sleep(options.soakSeconds);
    }
    // The processor cannot be addressed: the API (at its released version) checks the queue path.
    const overrides: Record<string, string> = worker === "api" && step < 100 ? { [name]: next } : {};
    if (!(await smokeUntilPassing(options, overrides))) {
      console.log(`smoke check failed at ${step} %: ${name} goes back to ${previous}`);
      deployVersions(config, [[previous, 100]], options);
      return false;
    }
  }
  // Not versioned: routes and custom domains, cron schedules, queue consumers' settings.
  wrangler(["triggers", "deploy", "--config", config, "--env", options.environment], options);
  return true;
}

export async function release(options: ReleaseOptions): Promise<boolean> {
  const problems = environmentProblems();
  if (problems.length > 0) {
    for (const problem of problems) console.error(problem);
    throw new Error("the environments do not hold: nothing was released");
  }
  checkSteps(options.steps);
  // The API's static assets (wrangler.toml [assets]) are uploaded with its version.
  if (!options.dryRun) buildWeb();
  // The API first: the processor binds its METRICS_AGGREGATOR class.
  for (const { worker, config } of WORKERS) {
    if (!(await releaseWorker(worker, config, options))) return false;
  }
  console.log(
    options.dryRun
      ? `\ndry run: nothing was released to ${options.environment} (the commands above are what a release runs)`
      : `\nreleased to ${options.environment}`,
  );
  return true;
}

/**
 * `--steps` as percentages: whole numbers from 0 to 100, each above the one before, the last 100.
 * @throws UsageError saying which rule the list breaks.
 */
export function parseSteps(text: string): number[] {
  const numbers = text.split(",").map((step) => decimal(step));
  if (numbers.some((step) => step === undefined || step > 100)) {
    throw new UsageError(
      `--steps must be percentages (whole numbers from 0 to 100) separated by commas, not "${text}"`,
    );
  }
  const steps = numbers as number[];
  checkSteps(steps);
  return steps;
}

/** @throws UsageError unless `steps` rise strictly and end at 100. */
function checkSteps(steps: number[]): void {
  if (steps.at(-1) !== 100 || steps.some((step, i) => i > 0 && step <= (steps[i - 1] ?? 0))) {
    throw new UsageError(`--steps must rise and end at 100 (for example 0,10,50,100), not ${steps.join(",")}`);
  }
}

if (import.meta.main) {
  const usage = `usage: npm run release -- --env ${DEPLOYED_ENVIRONMENTS.join("|")} [--dry-run] [--steps 0,10,50,100] [--soak 60] [--smoke-url URL] [--all-at-once] [--smoke-only] [--tag SHA] [--message TEXT]`;
  const values = scriptArgs(
    {
      env: { type: "string" },
      steps: { type: "string", default: "0,10,50,100" },
      "dry-run": { type: "boolean", default: false },
      "smoke-url": { type: "string" },
      soak: { type: "string", default: "60" },
      "all-at-once": { type: "boolean", default: false },
      // Only the smoke check of what is deployed now (CI's end-to-end job, after a deploy).
      "smoke-only": { type: "boolean", default: false },
      tag: { type: "string" },
      message: { type: "string" },
    },
    usage,
  );
  const environment = values.env;
  if (!environment || !(DEPLOYED_ENVIRONMENTS as readonly string[]).includes(environment)) {
    badUsage(
      usage,
      `--env must be ${DEPLOYED_ENVIRONMENTS.join(" or ")}${environment ? `, not "${environment}"` : ""}`,
    );
  }
  const steps = orUsage(usage, () => parseSteps(values.steps));
  const soakSeconds = orUsage(usage, () => integerOption("soak", values.soak, 0, 3600));
  const given = values["smoke-url"];
  if (given !== undefined && !/^https?:$/.test(URL.parse(given)?.protocol ?? "")) {
    badUsage(usage, `--smoke-url must be an http or https address, not "${given}"`);
  }
  const deployed = environment as DeployedEnvironment;
  const smokeUrl = given ?? `https://api.${ENVIRONMENTS[deployed].domain}`;
  if (values["smoke-only"]) {
    const failed = (await smokeCheck(smokeUrl, {})).filter((result) => !result.ok);
    for (const result of failed) console.error(`smoke: ${result.path} failed: ${result.why}`);
    process.exit(failed.length === 0 ? 0 : 1);
  }
  const ok = await release({
    environment: deployed,
    steps,
    dryRun: values["dry-run"],
    smokeUrl: given ?? (values["dry-run"] ? undefined : smokeUrl),
    soakSeconds,
    allAtOnce: values["all-at-once"],
    tag: values.tag,
    message: values.message,
  });
  process.exit(ok ? 0 : 1);
}
