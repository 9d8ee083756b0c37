// `node packages/sdk/scripts/generate-types.ts` (the second step of `npm run sdk:generate`): writes
// src/generated/openapi.ts from the committed openapi.json with openapi-typescript. The first step
// refreshes openapi.json from the worker (test/api/sdk-openapi.test.ts with `--update`).
// test/node/sdk-types.test.ts calls `generateTypes` on the committed document and fails when the
// committed types differ from what it makes.
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString, COMMENT_HEADER, type OpenAPI3 } from "openapi-typescript";

/** The committed copy of the worker's `/openapi.json` (pretty-printed). */
export const DOCUMENT_FILE = fileURLToPath(new URL("../openapi.json", import.meta.url));
/** The generated types: `paths`, `components`, `operations`. */
export const TYPES_FILE = fileURLToPath(new URL("../src/generated/openapi.ts", import.meta.url));

const HEADER = `${COMMENT_HEADER.trimEnd()}
// Generated from packages/sdk/openapi.json by \`npm run sdk:generate\` (packages/sdk/scripts/generate-types.ts).

`;

/**
 * The TypeScript types openapi-typescript makes of an OpenAPI document's JSON text, with the header
 * naming the command that made them. Deterministic for a given document and openapi-typescript version
 * (pinned by package-lock.json).
 */
export async function generateTypes(documentJson: string): Promise<string> {
  const document = JSON.parse(documentJson) as OpenAPI3;
  // A member with a default may be omitted from a request (`projectId` of ApiKeyCreate, `events` of
  // WebhookCreate, the only ones): openapi-typescript's default would make it required.
  const ast = await openapiTS(document, { silent: true, defaultNonNullable: false });
  return `${HEADER}${astToString(ast)}`;
}

if (import.meta.main) {
  await writeFile(TYPES_FILE, await generateTypes(await readFile(DOCUMENT_FILE, "utf8")));
  console.log(`wrote ${TYPES_FILE}`);
}
