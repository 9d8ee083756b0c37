import { sql } from "drizzle-orm";
import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { actAs, SYSTEM } from "../../db/actor.ts";
import { serverError, uniqueViolation } from "../../db/errors.ts";
import {
  confirmOwnedProjects,
  insertProjectStatements,
  type NewProject,
  OWNED_PROJECTS_EXCEEDED_SQLSTATE,
} from "../../db/queries/projects.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { slugFrom } from "../../projects/rules.ts";
import { jsonBody, jsonResponse, protectedRoute } from "../openapi.ts";
import { CreateProjectSchema, ProjectSchema, toProjectJson } from "./schemas.ts";

const route = protectedRoute("caller", {
  method: "post",
  path: "/projects",
  tags: ["Projects"],
  summary: "Create a project",
  description:
    "The caller becomes its first owner. A taken `slug` is a 409; a slug derived from the name gets a short random suffix when the plain one is taken. A user owns at most `PROJECTS_PER_USER` live projects (403 `quota_exceeded` with `quota: projects`); administrators are exempt.",
  request: { body: jsonBody(CreateProjectSchema) },
  responses: {
    201: jsonResponse("The new project; `Location` is its address.", ProjectSchema),
    ...problemResponses(400, 403, 409, 415, 503),
  },
});

const randomSuffix = () =>
  crypto.getRandomValues(new Uint8Array(3)).reduce((s, b) => s + b.toString(16).padStart(2, "0"), "");

export const createProject = createRouter().openapi(route, async (c) => {
  const body = c.req.valid("json");
  const caller = callerOf(c);
  const base: Omit<NewProject, "slug"> = {
    id: crypto.randomUUID(),
    name: body.name,
    description: body.description ?? "",
    settings: body.settings ?? {},
    createdBy: caller.userId,
  };
  const { projectsPerUser } = c.get("services").config.uploads;
  // Admins own as many as they like; anyone else is counted under their lock, after the insert.
  const capped = caller.role !== "admin";
  const insert = (slug: string) =>
    asCaller(c)
      .write((db) => [
        ...insertProjectStatements(db, { ...base, slug }),
        actAs(db, SYSTEM),
        capped
          ? confirmOwnedProjects(db, { userId: caller.userId, limit: projectsPerUser })
          : db.execute(sql`select 1`),
      ])
      .catch((error: unknown) => {
        const server = serverError(error);
        if (server?.code !== OWNED_PROJECTS_EXCEEDED_SQLSTATE || !server.detail) throw error;
        const { limit, used } = JSON.parse(server.detail) as { limit: number; used: number };
        throw new ApiError("quota_exceeded", {
          detail: `You own ${used} projects; at most ${limit} are allowed. Delete one or transfer its ownership first.`,
          extensions: { quota: "projects", limit, used, requested: 1 },
        });
      });
  const derived = slugFrom(body.name);
  let result: Awaited<ReturnType<typeof insert>>;
  try {
    result = await insert(body.slug ?? derived);
  } catch (error) {
    if (uniqueViolation(error) !== "projects_slug_key") throw error;
    if (body.slug) throw new ApiError("conflict", { detail: `The slug ${body.slug} is taken; choose another.` });
    result = await insert(`${derived.slice(0, 57)}-${randomSuffix()}`).catch((again: unknown) => {
      // Taken twice in a row (2^24 suffixes): not worth a third try.
      if (uniqueViolation(again) !== "projects_slug_key") throw again;
      throw new ApiError("conflict", { detail: "No free slug could be derived from that name; give one." });
    });
  }
  const [, , [project]] = result;
  if (!project) throw new Error("the new project was not read back");
  c.header("Location", `/projects/${project.id}`);
  return c.json(toProjectJson(project, "owner"), 201);
});
