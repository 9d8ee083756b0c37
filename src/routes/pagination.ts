import { z } from "@hono/zod-openapi";
import { integerParam } from "./fields.ts";

/** The query of every keyset-paginated list: `limit` (1–100, default 20) and the opaque `cursor`. */
export const PageQuery = z.object({
  limit: integerParam(1, 100)
    .default(20)
    .openapi({ param: { name: "limit", in: "query" } }),
  cursor: z
    .string()
    .max(200)
    .optional()
    .openapi({ param: { name: "cursor", in: "query" }, description: "`nextCursor` of the previous page." }),
});
