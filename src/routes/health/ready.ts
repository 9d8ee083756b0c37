import { createRouter } from "../../app/create-app.ts";
import { READY_CACHE_MS, readiness } from "../../app/readiness.ts";
import { PROBLEM_CONTENT_TYPE, problemBody, problemResponses } from "../../pkg/errors/problem.ts";
import { BEARER, jsonResponse, publicRoute } from "../openapi.ts";
import { NotReadySchema, ReadySchema } from "./schemas.ts";

/** Anonymous, or an admin's Bearer token for the details (OpenAPI 3.1 §4.8.10: `{}` makes it optional). */
const OPTIONAL_BEARER: Record<string, string[]>[] = [{}, ...BEARER];

// Per client address: generous for load balancers, bounded since it touches every dependency.
const route = publicRoute("probe", {
  method: "get",
  path: "/ready",
  tags: ["System"],
  summary: "Readiness: every dependency answers",
  description: `Checks Postgres (\`select 1\`), Redis (\`PING\`), S3 (\`HeadBucket\`) and the document-events queue (a \`system.ping\` message the processor acknowledges), in parallel. The status code is public, for load balancers; which dependency is down, and each one's latency, only for administrators (a Bearer token of an admin). Each isolate reuses its last checks for ${READY_CACHE_MS / 1000} s, and the gateway limits it per client address (policy \`probe\`).`,
  security: OPTIONAL_BEARER,
  responses: {
    200: jsonResponse("Every dependency is up.", ReadySchema),
    ...problemResponses(429),
    503: {
      description: "At least one dependency is down; for administrators, `detail` names it and `checks` says why.",
      content: { [PROBLEM_CONTENT_TYPE]: { schema: NotReadySchema } },
    },
  },
});

export const checkReadiness = createRouter().openapi(route, async (c) => {
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
