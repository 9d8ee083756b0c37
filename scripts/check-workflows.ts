// `npm run workflows:check [-- FILE…]` (and `npm run lint`): actionlint over the GitHub Actions
// workflows (.github/workflows/*.yml by default): their syntax and schema, job dependencies,
// expressions and contexts (`${{ secrets.X }}`, `needs.*`), runner labels, action inputs. This is
// actionlint's WebAssembly build (the `actionlint` package on npm), so it runs offline; unlike the
// native binary it does not run shellcheck on `run:` scripts.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { createLinter } from "actionlint";
import { parseDocument } from "yaml";
import { ROOT } from "../stack/wrangler.ts";

/**
 * Every problem in `files`, as `file:line:column: message [kind]`. YAML is parsed first (the
 * `yaml` package): this WebAssembly build of actionlint aborts, instead of reporting, on a file
 * that is not YAML.
 */
export async function lintWorkflows(files: string[]): Promise<string[]> {
  const lint = await createLinter();
  return files.flatMap((file) => {
    const text = readFileSync(file, "utf8");
    const name = path.relative(ROOT, file);
    const { errors } = parseDocument(text);
    if (errors.length > 0) {
      return errors.map((error) => {
        const [at] = error.linePos ?? [];
        return `${name}:${at?.line ?? 0}:${at?.col ?? 0}: ${error.message.split("\n")[0]} [syntax-check]`;
      });
    }
    return lint(text, name).map(
      (problem) => `${problem.file}:${problem.line}:${problem.column}: ${problem.message} [${problem.kind}]`,
    );
  });
}

export const WORKFLOWS = path.join(ROOT, ".github/workflows");

if (import.meta.main) {
  const named = process.argv.slice(2);
  const files =
    named.length > 0
      ? named.map((file) => path.resolve(file))
      : readdirSync(WORKFLOWS)
          .filter((file) => /\.ya?ml$/.test(file))
          .map((file) => path.join(WORKFLOWS, file));
  const problems = await lintWorkflows(files);
  for (const problem of problems) console.error(problem);
  if (problems.length > 0) process.exit(1);
  console.log(`workflows: ${files.map((file) => path.relative(ROOT, file)).join(", ")}: no problem (actionlint)`);
}
