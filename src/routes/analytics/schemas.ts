import { z } from "@hono/zod-openapi";
import { LARGEST_PROJECTS } from "../../db/queries/analytics.ts";
import type { SuppressedQuery } from "../../db/schema/search.ts";
import { nonBlankText, text, uuid } from "../fields.ts";
import { RangeSchema } from "./report.ts";

/** Counts per UTC day (`YYYY-MM-DD`), oldest first. */
const PerDaySchema = z.array(z.object({ day: z.string().openapi({ example: "2026-11-24" }), count: z.number().int() }));

export const BusinessMetricsSchema = z
  .object({
    range: RangeSchema,
    users: z.object({ total: z.number().int(), active: z.number().int(), newPerDay: PerDaySchema }),
    documents: z.object({
      count: z.number().int(),
      bytes: z.number(),
      processed: z.number().int(),
      failed: z.number().int(),
      quarantined: z.number().int(),
      inProgress: z.number().int(),
      byType: z.array(z.object({ type: z.string(), count: z.number().int(), bytes: z.number() })),
      uploadedPerDay: PerDaySchema,
    }),
    searches: z.object({ perDay: PerDaySchema }),
    projects: z.object({
      total: z.number().int().openapi({ description: "Projects not deleted, archived ones included." }),
      archived: z.number().int(),
      active: z.number().int().openapi({
        description: "Projects not deleted with at least one entry in their activity feed within the range.",
      }),
      largest: z
        .array(
          z.object({
            id: z.uuid(),
            slug: z.string(),
            name: z.string(),
            documents: z.number().int().openapi({ description: "Documents not deleted." }),
            bytes: z.number().openapi({
              description:
                "Stored bytes of those documents: every version's object, each once (a restored version shares its object), as the project's storage quota counts them.",
            }),
            members: z.number().int(),
          }),
        )
        .openapi({
          description: `The ${LARGEST_PROJECTS} projects (not deleted) holding the most bytes, largest first.`,
        }),
    }),
  })
  .openapi("BusinessMetrics");

export const SuppressedQuerySchema = z
  .object({
    id: z.uuid(),
    phrase: z.string().openapi({ description: "Normalised: trimmed, lower-cased, white space collapsed." }),
    reason: z.string().nullable(),
    suppressedBy: z.uuid().nullable(),
    createdAt: z.iso.datetime(),
  })
  .openapi("SuppressedQuery");

export const SuppressBodySchema = z
  .strictObject({
    phrase: nonBlankText().trim().max(200).openapi({
      description: "A popular query containing it (case-insensitively) is never suggested.",
      example: "buy cheap",
    }),
    reason: text().trim().max(500).optional().openapi({ description: "For the other administrators." }),
  })
  .openapi("SuppressQuery");

export const SuppressionIdParams = z.object({ id: uuid().openapi({ param: { name: "id", in: "path" } }) });

/** A `suppressed_queries` row as `SuppressedQuerySchema`. */
export const toSuppressedQueryJson = (row: SuppressedQuery): z.infer<typeof SuppressedQuerySchema> => ({
  id: row.id,
  phrase: row.phrase,
  reason: row.reason,
  suppressedBy: row.suppressedBy,
  createdAt: row.createdAt.toISOString(),
});
