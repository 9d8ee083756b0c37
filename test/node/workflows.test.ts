import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { lintWorkflows, WORKFLOWS } from "../../scripts/check-workflows.ts";

const CI = path.join(WORKFLOWS, "ci.yml");

describe("the CI/CD workflow", () => {
  let dir: string;
  let source: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "workflows-"));
    source = await readFile(CI, "utf8");
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  /** actionlint's problems with a copy of ci.yml changed by `edit`. */
  async function problemsOf(edit: (text: string) => string): Promise<string[]> {
    const copy = path.join(dir, "ci.yml");
    const changed = edit(source);
    expect(changed).not.toBe(source);
    await writeFile(copy, changed);
    return lintWorkflows([copy]);
  }

  it("passes actionlint", async () => {
    expect(await lintWorkflows([CI])).toEqual([]);
  });

  it.each([
    [
      "a job that needs a job that does not exist",
      (t: string) => t.replace("needs: deploy-staging", "needs: deploy-stage"),
      "job-needs",
    ],
    [
      "a context that does not exist",
      (t: string) => t.replaceAll("secrets.CLOUDFLARE_API_TOKEN", "secret.CLOUDFLARE_API_TOKEN"),
      "expression",
    ],
    ["YAML that does not parse", (t: string) => t.replace("jobs:\n", "jobs:\n  broken: [\n"), "syntax-check"],
    ["an unknown key of a job", (t: string) => t.replace("timeout-minutes: 20", "timeout-minute: 20"), "syntax-check"],
  ])("fails on a copy with %s", async (_, edit, kind) => {
    const problems = await problemsOf(edit);
    expect(
      problems.some((problem) => problem.endsWith(`[${kind}]`)),
      problems.join("\n"),
    ).toBe(true);
  });

  it("runs the document's pipeline: checks, tests and build, staging, its end-to-end smoke, then production", () => {
    const jobs = parse(source).jobs as Record<string, { needs?: string | string[]; environment?: { name: string } }>;
    const needs = (job: string) => [jobs[job]?.needs ?? []].flat();
    expect(needs("test")).toEqual(["checks"]);
    expect(needs("build")).toEqual(["checks"]);
    expect(needs("deploy-staging")).toEqual(["test", "build"]);
    expect(needs("e2e-staging")).toEqual(["deploy-staging"]);
    expect(needs("release-production")).toEqual(["e2e-staging"]);
    expect(jobs["deploy-staging"]?.environment?.name).toBe("staging");
    expect(jobs["release-production"]?.environment?.name).toBe("production");
    expect(source).toContain("npm run release -- --env production");
  });
});
