import { createRoute, z } from "@hono/zod-openapi";
import { sql } from "drizzle-orm";
import type { Services } from "../../app/context.ts";
import { createRouter } from "../../app/create-app.ts";
import { PROBLEM_CONTENT_TYPE, ProblemSchema, problemBody } from "../../pkg/errors/problem.ts";
import type { Logger } from "../../pkg/logger/logger.ts";

const CHECK_TIMEOUT_MS = 3_000;

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

const ReadySchema = z.object({ status: z.literal("ready"), checks: ChecksSchema }).openapi("Readiness");
const NotReadySchema = ProblemSchema.extend({ checks: ChecksSchema }).openapi("NotReady");

type Check = z.infer<typeof CheckSchema>;
type Dependency = keyof z.infer<typeof ChecksSchema>;

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
  description:
    "Checks Postgres (`select 1`), Redis (`PING`), S3 (`HeadBucket`) and the document-events queue (a `system.ping` message the processor acknowledges), in parallel, each with its latency.",
  responses: {
    200: { description: "Every dependency is up.", content: { "application/json": { schema: ReadySchema } } },
    503: {
      description: "At least one dependency is down; `detail` names it.",
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

function checkAll(services: Services, requestId: string, logger: Logger) {
  return Promise.all([
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
  ]).then(([postgres, redis, s3, queue]) => ({ postgres, redis, s3, queue }));
}

export const healthRouter = createRouter()
  .openapi(health, (c) => c.json({ status: "ok" as const }, 200))
  .openapi(ready, async (c) => {
    const checks = await checkAll(c.get("services"), c.get("requestId"), c.get("logger"));
    const down = Object.entries(checks)
      .filter(([, check]) => check.status === "down")
      .map(([name]) => name);
    if (down.length === 0) return c.json({ status: "ready" as const, checks }, 200);
    const problem = problemBody({
      code: "service_unavailable",
      detail: `Not ready: ${down.join(", ")} ${down.length === 1 ? "is" : "are"} down.`,
      instance: c.req.path,
      requestId: c.get("requestId"),
    });
    return c.json({ ...problem, checks }, 503, { "content-type": PROBLEM_CONTENT_TYPE });
  });
