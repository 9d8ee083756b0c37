import { createRoute, z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { ApiError, PROBLEMS, type ProblemCode } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonResponse } from "../openapi.ts";

const ProblemTypeSchema = z
  .object({
    code: z.string().openapi({ example: "validation_failed" }),
    status: z.number().int().openapi({ example: 400 }),
    title: z.string().openapi({ example: "Validation failed" }),
    description: z.string(),
  })
  .openapi("ProblemType");

/** Every problem type as a Markdown table: the reference page (`/docs`) shows it with this operation. */
const problemTable = [
  "Every error is `application/problem+json` (RFC 9457) whose `type` is `/problems/<code>`, one of:",
  "",
  "| code | status | title | meaning |",
  "| --- | --- | --- | --- |",
  ...Object.entries(PROBLEMS).map(
    ([code, problem]) =>
      `| \`${code}\` | ${problem.status} | ${problem.title} | ${problem.description.replaceAll("|", "\\|")} |`,
  ),
].join("\n");

const route = createRoute({
  method: "get",
  path: "/problems/{code}",
  tags: ["Meta"],
  summary: "What a problem `type` means",
  description: problemTable,
  request: {
    params: z.object({
      code: z.string().openapi({ param: { name: "code", in: "path" }, example: "validation_failed" }),
    }),
  },
  responses: {
    200: jsonResponse("The problem type.", ProblemTypeSchema),
    ...problemResponses(404),
  },
});

export const describeProblem = createRouter().openapi(route, (c) => {
  const { code } = c.req.valid("param");
  // Own keys only: `toString` or `constructor` are in every object, not problem types.
  if (!Object.hasOwn(PROBLEMS, code)) throw new ApiError("not_found", { detail: `No problem type ${code}.` });
  const problem = PROBLEMS[code as ProblemCode];
  return c.json({ code, status: problem.status, title: problem.title, description: problem.description }, 200);
});
