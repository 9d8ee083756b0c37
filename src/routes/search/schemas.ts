import { z } from "@hono/zod-openapi";
import { FACET_SAMPLE, PERSONAL, PROJECT_FACETS, TOTAL_COUNT_LIMIT } from "../../db/queries/search.ts";
import { DocumentSchema, TagsSchema } from "../documents/schemas.ts";
import { instant, integerParam, nonBlankText, text, uuid } from "../fields.ts";

const query = (name: string) => ({ param: { name, in: "query" as const } });

export const SearchQuery = z.object({
  q: text()
    .trim()
    .max(200)
    .optional()
    .openapi({
      ...query("q"),
      description:
        'Web-style: words (all required), "a phrase", `OR`, `-excluded`. Empty or absent browses newest first.',
      example: 'quarterly "revenue report" -draft',
    }),
  tags: TagsSchema.optional().openapi({ ...query("tags"), description: "Comma-separated; results carry all of them." }),
  type: text()
    .max(1000)
    .optional()
    .openapi({ ...query("type"), description: "Content types, comma-separated (any of them)." }),
  owner: uuid()
    .optional()
    .openapi({ ...query("owner"), description: "Who uploaded it (in a project, the member who filed it)." }),
  project: z
    .union([uuid(), z.literal(PERSONAL)])
    .optional()
    .openapi({
      ...query("project"),
      description: "A project's documents only, or `none`: personal documents only (filed in no project).",
    }),
  createdFrom: instant()
    .optional()
    .openapi({ ...query("createdFrom"), description: "Inclusive." }),
  createdTo: instant()
    .optional()
    .openapi({ ...query("createdTo"), description: "Exclusive." }),
  sort: z
    .enum(["relevance", "recent"])
    .default("relevance")
    .openapi({ ...query("sort"), description: "`recent`: newest first among the matches." }),
  limit: integerParam(1, 50).default(10).openapi(query("limit")),
  cursor: z
    .string()
    .max(300)
    .optional()
    .openapi({
      ...query("cursor"),
      description: "`nextCursor` of the previous page; any other value is refused (400).",
    }),
});

const FacetCountSchema = z.object({ value: z.string(), count: z.number().int() }).openapi("FacetCount");

export const SearchResponseSchema = z
  .object({
    queryId: z.uuid().openapi({ description: "Send it with POST /search/clicks when a result is opened." }),
    total: z
      .number()
      .int()
      .openapi({
        description: `Matches of the query and filters the caller may read, counted up to ${TOTAL_COUNT_LIMIT} (\`totalRelation\` says whether it is exact).`,
      }),
    totalRelation: z.enum(["eq", "gte"]).openapi({
      description: `\`eq\`: \`total\` is exact; \`gte\`: more documents match, \`total\` (${TOTAL_COUNT_LIMIT}) is a lower bound.`,
    }),
    data: z.array(
      z.object({
        document: DocumentSchema,
        score: z.number().openapi({ description: "Relevance (0 when browsing or sorting by date)." }),
        highlights: z.object({
          title: z.string().openapi({
            description:
              "HTML on one line: the title escaped (control characters and runs of white space as one space), matches in <mark>, the only elements.",
          }),
          content: z.string().nullable().openapi({
            description:
              "HTML like `title`: up to two fragments of the text around matches (without a query, its start).",
          }),
        }),
      }),
    ),
    nextCursor: z.string().nullable(),
    facets: z.object({
      approximate: z.boolean().openapi({
        description: `True when more than ${FACET_SAMPLE} documents match: the counts below are then of a sample of ${FACET_SAMPLE} matches (whichever the index yields first), not of all; otherwise types and months add up to \`total\`.`,
      }),
      tags: z.array(FacetCountSchema),
      types: z.array(FacetCountSchema),
      created: z.array(FacetCountSchema).openapi({ description: "By month of creation (YYYY-MM, UTC)." }),
      projects: z.array(FacetCountSchema).openapi({
        description: `By project id (the \`project\` filter's values), \`none\` for personal documents; at most ${PROJECT_FACETS}, most matches first. Only documents you can read are counted: a document shared with you counts under its project even if you are not a member.`,
      }),
    }),
    didYouMean: z
      .object({
        query: z.string().openapi({ description: "Plain text, not HTML: the query with the corrections made." }),
        total: z
          .number()
          .int()
          .openapi({ description: `Counted up to ${TOTAL_COUNT_LIMIT}.` }),
      })
      .nullable()
      .openapi({ description: "Offered when nothing matched and a corrected query finds documents you can read." }),
  })
  .openapi("SearchResults");

export const SuggestQuery = z.object({
  q: nonBlankText()
    .trim()
    .min(1)
    .max(100)
    .openapi({ ...query("q"), example: "quart" }),
  limit: integerParam(1, 20).default(8).openapi(query("limit")),
});

export const SuggestionSchema = z
  .object({
    text: z.string().openapi({ description: "Plain text, not HTML: escape it before putting it in a page." }),
    kind: z.enum(["title", "tag", "query"]),
    documentId: z.uuid().nullable().openapi({ description: "For a title: its document." }),
  })
  .openapi("Suggestion");

export const ClickSchema = z
  .strictObject({
    queryId: uuid(),
    documentId: uuid(),
    position: z.number().int().min(1).max(10_000).openapi({ description: "1-based rank of the result in the list." }),
  })
  .openapi("SearchClick");
