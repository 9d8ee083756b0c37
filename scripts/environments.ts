// `npm run environments` writes the `[env.staging]` and `[env.production]` sections of both wrangler
// configs; `npm run environments:check` (and test/node/environments.test.ts) fails when the files
// differ from what it would write, or when the environments break a rule below.
//
// Why generated: wrangler does not let an environment inherit vars, Durable Object bindings, queues
// or secrets (they are "non-inheritable keys": every environment must list its own), so each
// environment repeats the top-level settings. The top level is `development` (what `npm run dev`
// and the tests read, the local stack overriding its addresses); each deployed environment is the
// top level with the values in ENVIRONMENTS below and its own resource names
// (src/pkg/config/environments.ts). Edit the top level or the table, then run the script.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { unstable_readConfig } from "wrangler";
import { DEPLOYED_ENVIRONMENTS, type DeployedEnvironment, resourcesOf } from "../src/pkg/config/environments.ts";
import { ROOT } from "../stack/wrangler.ts";
import { scriptArgs } from "./args.ts";

/** The top level's domain: each deployed environment's addresses are under its own `domain`. */
const TOP_LEVEL_DOMAIN = "techcorp.example";

/**
 * What differs per deployed environment besides the resource names. The addresses of the
 * account's services are the example account's: replace them with yours (the R2 endpoint names
 * the Cloudflare account id; DATABASE_HOST is the host of that environment's Neon pooled
 * connection string, which the DATABASE_URL secret must name).
 */
export const ENVIRONMENTS: Record<DeployedEnvironment, { domain: string; vars: Record<string, string> }> = {
  staging: {
    domain: "staging.techcorp.example",
    vars: {
      DATABASE_HOST: "ep-techcorp-staging-pooler.us-east-2.aws.neon.tech",
      S3_ENDPOINT: "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com",
      UPSTASH_REDIS_REST_URL: "https://techcorp-staging.upstash.io",
      CLAMD_ADDRESS: "clamd.staging.techcorp.example:3310",
      SMTP_HOST: "smtp.techcorp.example",
      MAIL_FROM: "TechCorp Staging <no-reply@staging.techcorp.example>",
    },
  },
  production: {
    domain: "techcorp.example",
    vars: {
      DATABASE_HOST: "ep-techcorp-production-pooler.us-east-2.aws.neon.tech",
      S3_ENDPOINT: "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com",
      UPSTASH_REDIS_REST_URL: "https://techcorp-production.upstash.io",
      CLAMD_ADDRESS: "clamd.techcorp.example:3310",
      SMTP_HOST: "smtp.techcorp.example",
      MAIL_FROM: "TechCorp <no-reply@techcorp.example>",
    },
  },
};

/** Vars whose values must differ between any two deployed environments: each names what one owns. */
export const OWNED_VARS = [
  "DATABASE_HOST",
  "S3_BUCKET",
  "S3_THUMBNAILS_BUCKET",
  "UPSTASH_REDIS_REST_URL",
  "PUBLIC_URL",
  "JWT_ISSUER",
] as const;

export const WORKERS = [
  { worker: "api", config: "wrangler.toml" },
  { worker: "processor", config: "workers/processor/wrangler.toml" },
] as const;
type Worker = (typeof WORKERS)[number]["worker"];

const BEGIN =
  "# ---- Environments: written by `npm run environments` (scripts/environments.ts); do not edit below. ----";

const toml = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return `[${value.map(toml).join(", ")}]`;
  if (value && typeof value === "object") {
    return `{ ${Object.entries(value)
      .map(([key, inner]) => `${key} = ${toml(inner)}`)
      .join(", ")} }`;
  }
  throw new Error(`cannot write ${String(value)} as TOML`);
};

const table = (header: string, entries: object) =>
  [
    header,
    ...Object.entries(entries)
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => `${key} = ${toml(value)}`),
  ].join("\n");

/** The queue names of the top level, mapped to an environment's. */
function queueName(queue: string, environment: DeployedEnvironment): string {
  const queues = resourcesOf(environment).queues;
  const names: Record<string, string> = {
    "document-events": queues.documentEvents,
    "document-events-dlq": queues.documentEventsDeadLetter,
    notifications: queues.notifications,
    "notifications-dlq": queues.notificationsDeadLetter,
  };
  const name = names[queue];
  if (!name) throw new Error(`no ${environment} name for the queue ${queue}: add it to src/pkg/config/environments.ts`);
  return name;
}

/** The environment's value of a top-level var: its own, or the top level's with its domain. */
function varFor(key: string, value: unknown, environment: DeployedEnvironment): unknown {
  const settings = ENVIRONMENTS[environment];
  const resources = resourcesOf(environment);
  if (key === "ENVIRONMENT") return environment;
  if (key === "S3_BUCKET") return resources.documentsBucket;
  if (key === "S3_THUMBNAILS_BUCKET") return resources.thumbnailsBucket;
  if (key === "PUBLIC_URL" || key === "JWT_ISSUER") return `https://api.${settings.domain}`;
  if (key in settings.vars) return settings.vars[key];
  if (typeof value !== "string") return value;
  // Addresses under the top level's domain (OAUTH_CLIENTS' redirect URIs).
  return value
    .replaceAll(`api.${TOP_LEVEL_DOMAIN}`, `api.${settings.domain}`)
    .replaceAll(`app.${TOP_LEVEL_DOMAIN}`, `app.${settings.domain}`);
}

/** The sections of one worker's config for one environment, as TOML. */
function environmentSections(worker: Worker, config: string, environment: DeployedEnvironment): string {
  const top = unstable_readConfig({ config: path.join(ROOT, config) });
  const resources = resourcesOf(environment);
  const env = `env.${environment}`;
  const sections: string[] = [];
  const name = worker === "api" ? resources.apiWorker : resources.processorWorker;
  const head: Record<string, unknown> = { name };
  if (worker === "api") {
    head.routes = [{ pattern: `api.${ENVIRONMENTS[environment].domain}`, custom_domain: true }];
  }
  sections.push(table(`[${env}]`, head));
  const vars = Object.fromEntries(
    Object.entries(top.vars).map(([key, value]) => [key, varFor(key, value, environment)]),
  );
  sections.push(table(`[${env}.vars]`, vars));
  for (const binding of top.durable_objects.bindings) {
    // A binding to another worker's class binds that worker of the same environment.
    const scriptName = binding.script_name === undefined ? undefined : resources.apiWorker;
    sections.push(
      table(`[[${env}.durable_objects.bindings]]`, {
        name: binding.name,
        class_name: binding.class_name,
        script_name: scriptName,
      }),
    );
  }
  for (const producer of top.queues.producers ?? []) {
    sections.push(
      table(`[[${env}.queues.producers]]`, {
        binding: producer.binding,
        queue: queueName(producer.queue, environment),
      }),
    );
  }
  for (const consumer of top.queues.consumers ?? []) {
    sections.push(
      table(`[[${env}.queues.consumers]]`, {
        ...consumer,
        queue: queueName(consumer.queue, environment),
        dead_letter_queue: consumer.dead_letter_queue && queueName(consumer.dead_letter_queue, environment),
      }),
    );
  }
  if (top.secrets?.required) sections.push(table(`[${env}.secrets]`, { required: top.secrets.required }));
  return sections.join("\n\n");
}

/** The whole file as `npm run environments` writes it. */
export function generated(worker: Worker, config: string): string {
  const file = readFileSync(path.join(ROOT, config), "utf8");
  const at = file.indexOf(BEGIN);
  const head = (at === -1 ? file : file.slice(0, at)).trimEnd();
  const body = DEPLOYED_ENVIRONMENTS.map((environment) => environmentSections(worker, config, environment));
  return `${head}\n\n${BEGIN}\n\n${body.join("\n\n")}\n`;
}

/**
 * What is wrong with the environments as wrangler reads them: each names the worker, the
 * environment and the rule. Empty when every rule holds.
 */
export function environmentProblems(): string[] {
  const problems: string[] = [];
  const owned = new Map<string, string>();
  const own = (what: string, value: unknown, owner: string) => {
    if (value === undefined || value === "") return;
    const key = `${what}=${JSON.stringify(value)}`;
    const first = owned.get(key);
    if (first && first !== owner) problems.push(`${owner} and ${first} share ${what} ${JSON.stringify(value)}`);
    else owned.set(key, owner);
  };
  for (const { worker, config } of WORKERS) {
    const file = readFileSync(path.join(ROOT, config), "utf8");
    if (file !== generated(worker, config)) {
      problems.push(`${config}: its environments are not what \`npm run environments\` writes: run it`);
    }
    const top = unstable_readConfig({ config: path.join(ROOT, config) });
    for (const environment of DEPLOYED_ENVIRONMENTS) {
      const settings = unstable_readConfig({ config: path.join(ROOT, config), env: environment });
      const where = `${config} [env.${environment}]`;
      const vars = settings.vars as Record<string, unknown>;
      const resources = resourcesOf(environment);
      if (vars.ENVIRONMENT !== environment) problems.push(`${where}: ENVIRONMENT is not "${environment}"`);
      const missing = Object.keys(top.vars).filter((key) => !(key in vars));
      if (missing.length > 0) problems.push(`${where}: lacks the vars ${missing.join(", ")}`);
      const bindings = (config: typeof top) =>
        config.durable_objects.bindings.map((b: { name: string }) => b.name).sort();
      if (JSON.stringify(bindings(settings)) !== JSON.stringify(bindings(top))) {
        problems.push(`${where}: its Durable Object bindings are not the top level's`);
      }
      for (const binding of settings.durable_objects.bindings) {
        if (binding.script_name !== undefined && binding.script_name !== resources.apiWorker) {
          problems.push(`${where}: ${binding.name} binds ${binding.script_name}, not ${resources.apiWorker}`);
        }
      }
      if (JSON.stringify(settings.secrets?.required ?? []) !== JSON.stringify(top.secrets?.required ?? [])) {
        problems.push(`${where}: its required secrets are not the top level's`);
      }
      if (settings.workers_dev !== false || settings.preview_urls !== false) {
        problems.push(`${where}: must have no workers.dev address and no preview URLs`);
      }
      own("worker name", settings.name, environment);
      for (const route of settings.routes ?? []) own("route", route, environment);
      for (const key of OWNED_VARS) own(key, vars[key], environment);
      for (const producer of settings.queues.producers ?? []) own("queue", producer.queue, `${environment}`);
      for (const consumer of settings.queues.consumers ?? []) own("queue", consumer.queue, `${environment}`);
      const names = [
        settings.name,
        vars.S3_BUCKET,
        vars.S3_THUMBNAILS_BUCKET,
        ...(settings.queues.producers ?? []).map((producer: { queue: string }) => producer.queue),
        ...(settings.queues.consumers ?? []).flatMap((consumer: { queue: string; dead_letter_queue?: string }) => [
          consumer.queue,
          consumer.dead_letter_queue,
        ]),
      ].filter((name): name is string => typeof name === "string");
      for (const name of names) {
        if (!name.replace(/-dlq$/, "").endsWith(`-${environment}`)) {
          problems.push(`${where}: ${name} does not carry the environment's name`);
        }
      }
    }
  }
  // The top level (development) binds the local names, none of a deployed environment's.
  for (const { config } of WORKERS) {
    const top = unstable_readConfig({ config: path.join(ROOT, config) });
    own("worker name", top.name, "development");
    for (const key of OWNED_VARS) own(key, (top.vars as Record<string, unknown>)[key], "development");
    for (const producer of top.queues.producers ?? []) own("queue", producer.queue, "development");
    if ((top.routes ?? []).length > 0) problems.push(`${config}: the top level (development) must have no routes`);
  }
  return problems;
}

if (import.meta.main) {
  const values = scriptArgs(
    { check: { type: "boolean", default: false } },
    "usage: npm run environments (writes [env.*] of both wrangler configs) | npm run environments:check",
  );
  if (values.check) {
    const problems = environmentProblems();
    for (const problem of problems) console.error(problem);
    if (problems.length > 0) process.exit(1);
    console.log(`environments: ${DEPLOYED_ENVIRONMENTS.join(", ")} in ${WORKERS.map((w) => w.config).join(", ")}: ok`);
  } else {
    for (const { worker, config } of WORKERS) {
      writeFileSync(path.join(ROOT, config), generated(worker, config));
      console.log(`wrote the environments of ${config}`);
    }
  }
}
