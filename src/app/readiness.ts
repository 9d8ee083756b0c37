import { sql } from "drizzle-orm";
import { DeadlineExceededError, withDeadline } from "../pkg/errors/deadline.ts";
import type { Logger } from "../pkg/logger/logger.ts";
import type { Services } from "./context.ts";

/** How long one dependency check may take before it counts as down (reason `timeout`), in ms. */
const CHECK_TIMEOUT_MS = 3_000;

/**
 * How long one isolate answers `/ready` from its last checks instead of touching every dependency
 * again, in ms (OWASP API4:2023, unrestricted resource consumption: an anonymous probe must not
 * multiply work on Postgres, Redis, S3 and the queue). A few seconds: a load balancer still sees an
 * outage within one probe interval.
 */
export const READY_CACHE_MS = 5_000;

/** The dependencies `/ready` checks. */
export type Dependency = "postgres" | "redis" | "s3" | "queue";

/**
 * One dependency's state: `up`, `disabled` (configured off, e.g. Redis without credentials) or
 * `down` with a `reason` (`timeout`: no answer within `CHECK_TIMEOUT_MS`; `unreachable`: it
 * failed), and how long the check took, in ms.
 */
export interface DependencyCheck {
  status: "up" | "down" | "disabled";
  latencyMs: number;
  reason?: string;
}

export type DependencyChecks = Record<Dependency, DependencyCheck>;

/**
 * Runs one readiness check: `down` with reason `timeout` when our own deadline passed first (known
 * by the error's type: a dependency's error that merely says "timeout" is `unreachable`). Never
 * throws: a failure is logged as a warning and returned as `down`.
 */
export async function probe(
  name: Dependency,
  logger: Logger,
  run: () => Promise<"up" | "disabled">,
): Promise<DependencyCheck> {
  const started = Date.now();
  // Ours, told apart by identity: a dependency's own deadline error is `unreachable`.
  const deadline = new DeadlineExceededError(name, CHECK_TIMEOUT_MS, "readiness check");
  try {
    const outcome = await withDeadline(run(), deadline);
    return { status: outcome, latencyMs: Date.now() - started };
  } catch (error) {
    logger.warn("readiness check failed", { dependency: name, error });
    const reason = error === deadline ? "timeout" : "unreachable";
    return { status: "down", latencyMs: Date.now() - started, reason };
  }
}

/**
 * Checks every dependency in parallel: Postgres (`select 1` over the WebSocket mode), Redis
 * (`PING`, `disabled` without a cache), S3 (`HeadBucket`) and the document-events queue (a
 * `system.ping` message carrying `requestId`, which the processor acknowledges).
 */
async function checkAll(services: Services, requestId: string, logger: Logger): Promise<DependencyChecks> {
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

/** The outcome of one round of checks. */
export interface Readiness {
  checks: DependencyChecks;
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
 * any, else checked now (then kept). Concurrent first calls may each check: the rate limit bounds
 * them. Never throws: a dependency that fails is `down` in the result. Takes up to
 * `CHECK_TIMEOUT_MS` when a dependency does not answer.
 */
export async function readiness(services: Services, requestId: string, logger: Logger): Promise<Readiness> {
  const cached = lastReadiness.get(services.config);
  if (cached && Date.now() - cached.at < READY_CACHE_MS) return cached;
  const checks = await checkAll(services, requestId, logger);
  const fresh = { checks, at: Date.now() };
  lastReadiness.set(services.config, fresh);
  return fresh;
}
