import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { PROBLEM_CODES } from "@techcorp/sdk";
import { describe, expect, it } from "vitest";
import { DOCUMENT_FILE, generateTypes, TYPES_FILE } from "../../packages/sdk/scripts/generate-types.ts";
import { PROBLEMS } from "../../src/pkg/errors/api-error.ts";

// The second half of the SDK's drift guard (the first, test/api/sdk-openapi.test.ts, keeps
// packages/sdk/openapi.json equal to the worker's /openapi.json): the committed types are what
// openapi-typescript makes of that document, and the SDK's problem codes are the server's.
const REGENERATE = "packages/sdk/src/generated/openapi.ts is stale: run `npm run sdk:generate` and commit packages/sdk";

describe("the SDK package", () => {
  it("imports by its name in plain Node (type stripping, through the workspace symlink)", async () => {
    // Node strips types only outside node_modules: it follows node_modules/@techcorp/sdk's symlink
    // to packages/sdk/src, so the web app's and the CLI's Node code can import the source as is.
    const script = `const sdk = await import("@techcorp/sdk");
      console.log(JSON.stringify({ url: import.meta.resolve("@techcorp/sdk"), exports: Object.keys(sdk).sort() }));`;
    const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], {
      cwd: new URL("../..", import.meta.url),
    });
    const { url, exports } = JSON.parse(stdout) as { url: string; exports: string[] };
    expect(url).toBe(new URL("../../packages/sdk/src/index.ts", import.meta.url).href);
    expect(exports).toEqual(expect.arrayContaining(["ProblemError", "createClient", "PROBLEM_CODES"]));
  });
});

describe("the SDK's generated code", () => {
  it("is what openapi-typescript makes of packages/sdk/openapi.json", async () => {
    const [document, committed] = await Promise.all([readFile(DOCUMENT_FILE, "utf8"), readFile(TYPES_FILE, "utf8")]);
    const generated = await generateTypes(document);
    // A boolean first: a stale file's diff runs to thousands of lines.
    expect(generated === committed, REGENERATE).toBe(true);
  });

  it("lists exactly the server's problem codes (src/pkg/errors/api-error.ts)", () => {
    expect([...PROBLEM_CODES].sort(), "update PROBLEM_CODES in packages/sdk/src/problem.ts").toEqual(
      Object.keys(PROBLEMS).sort(),
    );
  });
});
