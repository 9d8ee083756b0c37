import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkLayers, formatFinding, readLayers } from "../../scripts/check-layers.ts";

const SCRIPT = new URL("../../scripts/check-layers.ts", import.meta.url).pathname;

const README = `# A project

### Folder tree

\`\`\`
workers/   entry
src/       the rest
\`\`\`

Layers, top to bottom: a module imports from its own layer or one below.

1. entry: \`workers/\`
2. routes: \`src/routes/\`
3. app: \`src/app/\`, \`src/gateway/\`
4. db: \`src/db/\`
5. pkg: \`src/pkg/\`

## Next section

1. not a layer: \`src/\`
`;

/** A small tree: each file names what it does wrong, or that it is clean. */
const FILES: Record<string, string> = {
  "README.md": README,
  // Clean: downward, sideways within a layer, packages.
  "workers/index.ts": 'import { app } from "../src/routes/clean.ts";\nexport default app;\n',
  "src/routes/clean.ts": [
    'import { Hono } from "hono";',
    'import type { Settings } from "../app/settings.ts";',
    'import { util } from "../pkg/util.ts";',
    'import { sibling } from "./sibling.ts";',
    'export { gateway } from "../gateway/gateway.ts";',
    "export const app = new Hono();",
    "export type Used = [Settings, typeof util, typeof sibling];",
    "",
  ].join("\n"),
  "src/routes/sibling.ts": "export const sibling = 1;\n",
  "src/app/settings.ts": 'import { rows } from "../db/rows.ts";\nexport type Settings = typeof rows;\n',
  "src/gateway/gateway.ts":
    'import type { Settings } from "../app/settings.ts";\nexport const gateway = {} as Settings;\n',
  "src/pkg/util.ts": "export const util = 1;\n",
  // An upward value import (pkg → app), written over two lines.
  "src/pkg/upward.ts": 'export const x = 1;\nimport {\n  type Settings,\n} from "../app/settings.ts";\n',
  // An upward type import (db → routes) and an upward re-export (db → app).
  "src/db/rows.ts": [
    "export const rows = [];",
    'import type { Used } from "../routes/clean.ts";',
    'export * from "../gateway/gateway.ts";',
    "",
  ].join("\n"),
  // An upward dynamic import (app → entry), a TypeScript import type (app → routes), a computed
  // import() that cannot be checked, and an upward import() written as a template literal.
  "src/gateway/lazy.ts": [
    'export const load = () => import("../../workers/index.ts");',
    'export type App = import("../routes/clean.ts").Used;',
    "export const any = (name: string) => import(name);",
    "export const later = () => import(`../routes/sibling.ts`);",
    "",
  ].join("\n"),
  // A file under src/ that the README's list does not place.
  "src/misc/stray.ts": "export const stray = 1;\n",
};

/** Writes `files` (root-relative path → text) under `root`. */
function writeTree(root: string, files: Record<string, string>) {
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), text);
  }
}

let root = "";
beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), "check-layers-"));
  writeTree(root, FILES);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const EXPECTED = [
  'src/db/rows.ts:2: import type { Used } from "../routes/clean.ts";: layer db imports layer routes above it',
  'src/db/rows.ts:3: export * from "../gateway/gateway.ts";: layer db imports layer app above it',
  'src/gateway/lazy.ts:1: import("../../workers/index.ts"): layer app imports layer entry above it',
  'src/gateway/lazy.ts:2: import("../routes/clean.ts").Used: layer app imports layer routes above it',
  "src/gateway/lazy.ts:3: import(name): a computed module name cannot be checked",
  "src/gateway/lazy.ts:4: import(`../routes/sibling.ts`): layer app imports layer routes above it",
  "src/misc/stray.ts: is in no layer of README.md's list",
  'src/pkg/upward.ts:2: import { type Settings, } from "../app/settings.ts";: layer pkg imports layer app above it',
];

describe("the layer check (scripts/check-layers.ts)", () => {
  it("reads the layers from the README's list under the folder tree, top first, and nothing after it", () => {
    expect(readLayers(README)).toEqual([
      { name: "entry", rank: 1, folders: ["workers/"] },
      { name: "routes", rank: 2, folders: ["src/routes/"] },
      { name: "app", rank: 3, folders: ["src/app/", "src/gateway/"] },
      { name: "db", rank: 4, folders: ["src/db/"] },
      { name: "pkg", rank: 5, folders: ["src/pkg/"] },
    ]);
  });

  it("refuses a README without the list, rather than passing with no layers", () => {
    expect(() => readLayers(README.replace("Layers, top to bottom", "Layers"))).toThrow(/no "Layers, top to bottom"/);
  });

  it("finds exactly the upward imports: value, type, re-export, dynamic, import type; a computed name; a stray file", () => {
    expect(checkLayers(root).map(formatFinding)).toEqual(EXPECTED);
  });

  it("as a script, prints one line per finding and exits 1; a clean tree exits 0", () => {
    const failing = spawnSync(process.execPath, [SCRIPT, root], { encoding: "utf8" });
    expect(failing.status).toBe(1);
    expect(failing.stderr.trim().split("\n").slice(0, -1)).toEqual(EXPECTED);

    const clean = mkdtempSync(path.join(tmpdir(), "check-layers-clean-"));
    try {
      // The clean files of the tree above: downward and sideways imports only.
      const files = [
        "README.md",
        "workers/index.ts",
        "src/routes/clean.ts",
        "src/routes/sibling.ts",
        "src/app/settings.ts",
      ];
      for (const file of [...files, "src/gateway/gateway.ts", "src/pkg/util.ts"]) {
        mkdirSync(path.dirname(path.join(clean, file)), { recursive: true });
        writeFileSync(path.join(clean, file), FILES[file] ?? "");
      }
      const passing = spawnSync(process.execPath, [SCRIPT, clean], { encoding: "utf8" });
      expect(passing.stderr).toBe("");
      expect(passing.status).toBe(0);
    } finally {
      rmSync(clean, { recursive: true, force: true });
    }
  });

  it("follows paths as the file system does: absolute, out of the tree and back, file: URLs, symbolic links", () => {
    const tree = mkdtempSync(path.join(tmpdir(), "check-layers-paths-"));
    try {
      const routes = path.join(tree, "src/routes/sibling.ts");
      const files: Record<string, string> = {
        "README.md": README,
        "workers/index.ts": "export {};\n",
        "src/routes/sibling.ts": "export const sibling = 1;\n",
        "src/app/settings.ts": "export const settings = 1;\n",
        // pkg → routes by an absolute path, and by a relative one that leaves the tree and comes back.
        "src/pkg/absolute.ts": `import { sibling } from ${JSON.stringify(routes)};\nexport const a = sibling;\n`,
        "src/pkg/round-trip.ts": `export * from "../../../${path.basename(tree)}/src/routes/sibling.ts";\n`,
        // pkg → app by a file: URL.
        "src/pkg/url.ts": `import ${JSON.stringify(pathToFileURL(path.join(tree, "src/app/settings.ts")).href)};\n`,
        // pkg → routes through a symbolic link to the routes folder (made below).
        "src/pkg/linked.ts": 'import "./link/sibling.ts";\n',
        // Paths outside the tree are in no layer: not findings.
        "src/pkg/outside.ts": 'import "/nowhere/src/routes/x.ts";\nimport "../../../elsewhere/src/routes/x.ts";\n',
      };
      writeTree(tree, files);
      symlinkSync("../routes", path.join(tree, "src/pkg/link"));
      expect(checkLayers(tree).map(formatFinding)).toEqual([
        `src/pkg/absolute.ts:1: import { sibling } from ${JSON.stringify(routes)};: layer pkg imports layer routes above it`,
        'src/pkg/linked.ts:1: import "./link/sibling.ts";: layer pkg imports layer routes above it',
        `src/pkg/round-trip.ts:1: export * from "../../../${path.basename(tree)}/src/routes/sibling.ts";: layer pkg imports layer routes above it`,
        `src/pkg/url.ts:1: import ${JSON.stringify(pathToFileURL(path.join(tree, "src/app/settings.ts")).href)};: layer pkg imports layer app above it`,
      ]);
    } finally {
      rmSync(tree, { recursive: true, force: true });
    }
  });

  it("reads CommonJS require() and triple-slash references: literal names checked, computed ones reported", () => {
    const tree = mkdtempSync(path.join(tmpdir(), "check-layers-require-"));
    try {
      const files: Record<string, string> = {
        "README.md": README,
        "workers/index.ts": "export {};\n",
        "src/routes/sibling.ts": "export const sibling = 1;\n",
        "src/pkg/util.ts": "export const util = 1;\n",
        "src/db/required.ts": [
          'const up = require("../routes/sibling.ts");',
          'const down = require("../pkg/util.ts");',
          "const computed = (name: string) => require(name);",
          'const method = { require: (name: string) => name }.require("../routes/sibling.ts");',
          "export { up, down, computed, method };",
          "",
        ].join("\n"),
        "src/db/referenced.ts": [
          '/// <reference types="node" />',
          '/// <reference path="../routes/sibling.ts" />',
          "export const referenced = 1;",
          '/// <reference path="../routes/sibling.ts" /> (not at the top: an ordinary comment)',
          "",
        ].join("\n"),
      };
      writeTree(tree, files);
      expect(checkLayers(tree).map(formatFinding)).toEqual([
        'src/db/referenced.ts:2: /// <reference path="../routes/sibling.ts" />: layer db imports layer routes above it',
        'src/db/required.ts:1: require("../routes/sibling.ts"): layer db imports layer routes above it',
        "src/db/required.ts:3: require(name): a computed module name cannot be checked",
      ]);
    } finally {
      rmSync(tree, { recursive: true, force: true });
    }
  });

  it("reads this repository's README: the six layers of STYLE.md, in order", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    expect(readLayers(readme).map((layer) => layer.name)).toEqual(["entry", "routes", "app", "domain", "db", "pkg"]);
  });
});
