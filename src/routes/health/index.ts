import { createRoute, z } from "@hono/zod-openapi";
import { sql } from "drizzle-orm";
import type { Services } from "../../app/context.ts";
import { createRouter } from "../../app/create-app.ts";
import { PROBLEM_CONTENT_TYPE, ProblemSchema, problemBody, problemResponses } from "../../pkg/errors/problem.ts";
import type { Logger } from "../../pkg/logger/logger.ts";
import { BEARER } from "../openapi.ts";

const CHECK_TIMEOUT_MS = 3_000;

/**
 * How long one isolate answers `/ready` from its last checks instead of touching every dependency
 * again (OWASP API4:2023, unrestricted resource consumption: an anonymous probe must not multiply
 * work on Postgres, Redis, S3 and the queue). A few seconds: a load balancer still sees an outage
 * within one probe interval.
 */
export const READY_CACHE_MS = 5_000;

const CheckSchema = z
  .object({
    status: z.enum(["up", "down", "disabled"]),
    latencyMs: z.number().openapi({ example: 4 }),
    reason: z.string().optional().openapi({ example: "timeout" }),
  })
  .openapi("DependencyCheck");

const ChecksSchema = z
  .object({ postgres: CheckSchema, redis: CheckSchema, s3: CheckSchema, queue: CheckSchema })
  .openapi("DependencyChecks");

const CheckedAtSchema = z.iso
  .datetime()
  .openapi({ description: "When these checks ran (answers within a few seconds reuse them)." });
const ReadySchema = z
  .object({
    status: z.literal("ready"),
    checks: ChecksSchema.optional().openapi({ description: "Administrators only." }),
    checkedAt: CheckedAtSchema.optional().openapi({ description: "Administrators only." }),
  })
  .openapi("Readiness");
const NotReadySchema = ProblemSchema.extend({
  checks: ChecksSchema.optional().openapi({ description: "Administrators only." }),
  checkedAt: CheckedAtSchema.optional().openapi({ description: "Administrators only." }),
}).openapi("NotReady");

type Check = z.infer<typeof CheckSchema>;
type Dependency = keyof z.infer<typeof ChecksSchema>;

const OPTIONAL_BEARER: Record<string, string[]>[] = [{}, ...BEARER];

const health = createRoute({
  method: "get",
  path: "/health",
  tags: ["System"],
  summary: "Liveness: the worker runs",
  description: "Touches no dependency; use `/ready` to check them.",
  responses: {
    200: {
      description: "The worker is alive.",
      content: { "application/json": { schema: z.object({ status: z.literal("ok") }).openapi("Health") } },
    },
  },
});

const ready = createRoute({
  method: "get",
  path: "/ready",
  tags: ["System"],
  summary: "Readiness: every dependency answers",
  description: `Checks Postgres (\`select 1\`), Redis (\`PING\`), S3 (\`HeadBucket\`) and the document-events queue (a \`system.ping\` message the processor acknowledges), in parallel. The status code is public, for load balancers; which dependency is down, and each one's latency, only for administrators (a Bearer token of an admin). Each isolate reuses its last checks for ${READY_CACHE_MS / 1000} s, and the gateway limits it per client address (policy \`probe\`).`,
  // Anonymous, or an admin's Bearer token for the details (OpenAPI 3.1 §4.8.10: `{}` makes it optional).
  security: OPTIONAL_BEARER,
  responses: {
    200: { description: "Every dependency is up.", content: { "application/json": { schema: ReadySchema } } },
    ...problemResponses(429),
    503: {
      description: "At least one dependency is down; for administrators, `detail` names it and `checks` says why.",
      content: { [PROBLEM_CONTENT_TYPE]: { schema: NotReadySchema } },
    },
  },
});

/** A readiness check that did not finish within `CHECK_TIMEOUT_MS`. */
class CheckTimeoutError extends Error {
  constructor() {
    super(`no answer within ${CHECK_TIMEOUT_MS} ms`);
    this.name = "CheckTimeoutError";
  }
}

/**
 * Runs one readiness check: `down` with reason `timeout` when our own deadline passed first (known
 * by the error's type: a dependency's error that merely says "timeout" is `unreachable`).
 */
export async function probe(name: Dependency, logger: Logger, run: () => Promise<"up" | "disabled">): Promise<Check> {
  const started = Date.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CheckTimeoutError()), CHECK_TIMEOUT_MS);
    });
    const outcome = await Promise.race([run(), timeout]);
    return { status: outcome, latencyMs: Date.now() - started };
  } catch (error) {
    logger.warn("readiness check failed", { dependency: name, error });
    const reason = error instanceof CheckTimeoutError ? "timeout" : "unreachable";
    return { status: "down", latencyMs: Date.now() - started, reason };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

type Checks = z.infer<typeof ChecksSchema>;

async function checkAll(services: Services, requestId: string, logger: Logger): Promise<Checks> {
  const [postgres, redis, s3, queue] = await Promise.all([
    probe("postgres", logger, async () => {
      await services.database.db.execute(sql`select 1`);
      return "up";
    }),
    probe("redis", logger, async () => {
      if (!services.cache.enabled) return "disabled";
      await services.cache.ping();
      return "up";
    }),
    probe("s3", logger, async () => {
      await services.storage.ping();
      return "up";
    }),
    probe("queue", logger, async () => {
      await services.events.publish({ type: "system.ping", requestId });
      return "up";
    }),
  ]);
  return { postgres, redis, s3, queue };
}

interface Readiness {
  checks: Checks;
  /** Epoch milliseconds when the checks finished. */
  at: number;
}

/**
 * The last finished checks of this isolate, per configuration (a bindings object is stable per
 * isolate; tests that swap bindings get their own entry). Only finished, plain results are kept:
 * a promise of another request's I/O must not be awaited by this one in Workers.
 */
const lastReadiness = new WeakMap<object, Readiness>();

/**
 * The dependencies' state, from this isolate's checks of the last `READY_CACHE_MS` when there are
 * any, else checked now (then kept). Concurrent first calls may each check: the rate limit bounds them.
 */
export async function readiness(services: Services, requestId: string, logger: Logger): Promise<Readiness> {
  const cached = lastReadiness.get(services.config);
  if (cached && Date.now() - cached.at < READY_CACHE_MS) return cached;
  const checks = await checkAll(services, requestId, logger);
  const fresh = { checks, at: Date.now() };
  lastReadiness.set(services.config, fresh);
  return fresh;
}

export const healthRouter = createRouter()
  .openapi(health, (c) => c.json({ status: "ok" as const }, 200))
  .openapi(ready, async (c) => {
    const { checks, at } = await readiness(c.get("services"), c.get("requestId"), c.get("logger"));
    // Which dependency is down, and how fast each answers, maps the platform for an attacker
    // (OWASP API8:2023): only administrators see it; the status code is everyone's.
    const details = c.get("auth")?.role === "admin" ? { checks, checkedAt: new Date(at).toISOString() } : {};
    const down = Object.entries(checks)
      .filter(([, check]) => check.status === "down")
      .map(([name]) => name);
    if (down.length === 0) return c.json({ status: "ready" as const, ...details }, 200);
    const problem = problemBody({
      code: "service_unavailable",
      detail: details.checks
        ? `Not ready: ${down.join(", ")} ${down.length === 1 ? "is" : "are"} down.`
        : "Not ready: a dependency is down.",
      instance: c.req.path,
      requestId: c.get("requestId"),
    });
    return c.json({ ...problem, ...details }, 503, { "content-type": PROBLEM_CONTENT_TYPE });
  });
