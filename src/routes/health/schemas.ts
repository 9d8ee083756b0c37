import { z } from "@hono/zod-openapi";
import { ProblemSchema } from "../../pkg/errors/problem.ts";

export const HealthSchema = z.object({ status: z.literal("ok") }).openapi("Health");

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

export const ReadySchema = z
  .object({
    status: z.literal("ready"),
    checks: ChecksSchema.optional().openapi({ description: "Administrators only." }),
    checkedAt: CheckedAtSchema.optional().openapi({ description: "Administrators only." }),
  })
  .openapi("Readiness");

export const NotReadySchema = ProblemSchema.extend({
  checks: ChecksSchema.optional().openapi({ description: "Administrators only." }),
  checkedAt: CheckedAtSchema.optional().openapi({ description: "Administrators only." }),
}).openapi("NotReady");
