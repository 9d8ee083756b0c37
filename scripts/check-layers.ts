// `node scripts/check-layers.ts [root]` (part of `npm run lint`): fails when a module imports from a
// layer above its own. The layers are written down once, in README.md's "Folder tree" section (the
// "Layers, top to bottom" list); this script reads them from there, so the README and the check
// cannot drift apart. Imports are read by a parser (oxc), not by pattern: `import`, `import type`,
// `export … from`, `import()`, TypeScript's `import("…")` types, `import x = require("…")`, CommonJS
// `require("…")` and `/// <reference path="…" />` all count, since a type import upward is coupling too.
// A path is followed as the file system does (absolute, `file:` URL, out of the tree and back,
// symbolic links), so no spelling of it escapes the check.
import { readdirSync, readFileSync, realpathSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Comment, type Node, parseSync, Visitor } from "oxc-parser";

/** One layer of the README's list: `rank` 1 is the top; `folders` are root-relative, ending in `/`. */
export interface Layer {
  name: string;
  rank: number;
  folders: string[];
}

/**
 * One offending import. `file` is root-relative with `/` separators, `line` 1-based, `statement` the
 * import's source text on one line, `message` what is wrong with it.
 */
export interface Finding {
  file: string;
  line: number;
  statement: string;
  message: string;
}

const HEADING = "### Folder tree";
const LIST_INTRO = "Layers, top to bottom";
const LIST_ITEM = /^\d+\.\s+([^:]+):\s+(.+)$/;
const SOURCE_FILE = /\.[cm]?[jt]sx?$/;
/** `/// <reference path="…" />` (the comment's text after `//`), the TypeScript handbook's "Triple-Slash Directives". */
const REFERENCE_PATH = /^\/\s*<reference\s+path\s*=\s*(["'])(.*?)\1/;

/**
 * Reads the layers from README.md's text: the numbered list that follows the line starting
 * "Layers, top to bottom" in the "Folder tree" section, one item per layer, top first, written
 * `1. name: \`folder/\`, \`folder/\``. Throws an `Error` naming what is missing when the section, the
 * list or an item's folders cannot be found, so a reworded README fails the check instead of passing
 * it empty.
 */
export function readLayers(readme: string): Layer[] {
  const lines = readme.split("\n");
  const section = lines.findIndex((line) => line.trim() === HEADING);
  if (section === -1) throw new Error(`README.md has no "${HEADING}" section`);
  const intro = lines.findIndex((line, index) => index > section && line.startsWith(LIST_INTRO));
  if (intro === -1) throw new Error(`README.md's "${HEADING}" section has no "${LIST_INTRO}" list`);
  const layers: Layer[] = [];
  for (const line of lines.slice(intro + 1)) {
    const item = LIST_ITEM.exec(line.trim());
    if (item === null) {
      if (layers.length > 0) break;
      continue;
    }
    const [, name = "", rest = ""] = item;
    const folders = [...rest.matchAll(/`([^`]+\/)`/g)].map(([, folder = ""]) => folder);
    if (folders.length === 0) throw new Error(`README.md's layer "${name.trim()}" names no folder (\`folder/\`)`);
    layers.push({ name: name.trim(), rank: layers.length + 1, folders });
  }
  if (layers.length === 0) throw new Error(`README.md's "${LIST_INTRO}" list has no items`);
  return layers;
}

/** The layer holding a root-relative path: the one naming the longest folder that contains it. */
function layerOf(layers: Layer[], file: string): Layer | undefined {
  let best: { layer: Layer; length: number } | undefined;
  for (const layer of layers) {
    for (const folder of layer.folders) {
      if (file.startsWith(folder) && folder.length > (best?.length ?? 0)) best = { layer, length: folder.length };
    }
  }
  return best?.layer;
}

function sourceFiles(root: string, folder: string): string[] {
  return readdirSync(path.join(root, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && SOURCE_FILE.test(entry.name))
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)).split(path.sep).join("/"))
    .filter((file) => !file.split("/").includes("node_modules"))
    .sort();
}

/** A module specifier as written, or undefined when it is computed (`import(name)`, a template with `${}`). */
function literal(node: Node): string | undefined {
  if (node.type === "Literal" && typeof node.value === "string") return node.value;
  if (node.type === "TemplateLiteral" && node.expressions.length === 0)
    return node.quasis[0]?.value.cooked ?? undefined;
  return undefined;
}

/**
 * The `/// <reference path="…" />` directives of a file: TypeScript reads them only at the top of a
 * file, before any statement, preceded by comments alone (TypeScript handbook, "Triple-Slash
 * Directives"); further down they are ordinary comments.
 */
function referencePaths(
  comments: Comment[],
  firstStatement: number,
): { specifier: string; start: number; end: number }[] {
  return comments.flatMap(({ type, value, start, end }) => {
    const reference = type === "Line" && start < firstStatement ? REFERENCE_PATH.exec(value) : null;
    return reference === null ? [] : [{ specifier: reference[2] ?? "", start, end }];
  });
}

/** Every module a file's source names, with the span of the statement or expression naming it. */
function importsOf(file: string, text: string): { specifier: string | undefined; start: number; end: number }[] {
  const parsed = parseSync(file, text);
  const [error] = parsed.errors;
  if (error !== undefined) throw new Error(`${file}: cannot be parsed: ${error.message}`);
  const found: { specifier: string | undefined; start: number; end: number }[] = referencePaths(
    parsed.comments,
    parsed.program.body[0]?.start ?? text.length,
  );
  const add = (source: Node | null | undefined, { start, end }: { start: number; end: number }) => {
    if (source !== null && source !== undefined) found.push({ specifier: literal(source), start, end });
  };
  new Visitor({
    // CommonJS: a call of the global `require`, not a method named so (`x.require(…)`).
    CallExpression: (node) => {
      if (node.callee.type === "Identifier" && node.callee.name === "require") add(node.arguments[0], node);
    },
    ImportDeclaration: (node) => add(node.source, node),
    ExportNamedDeclaration: (node) => add(node.source, node),
    ExportAllDeclaration: (node) => add(node.source, node),
    ImportExpression: (node) => add(node.source, node),
    TSImportType: (node) => add(node.source, node),
    TSImportEqualsDeclaration: (node) => {
      if (node.moduleReference.type === "TSExternalModuleReference") add(node.moduleReference.expression, node);
    },
  }).visit(parsed.program);
  return found.sort((a, b) => a.start - b.start);
}

/**
 * `absolute` with the symbolic links on it followed as far as the file system has it
 * (`fs.realpathSync`); a part that does not exist (an import written without its extension) is
 * appended to its nearest existing folder's real path unchanged.
 */
function realPath(absolute: string): string {
  try {
    return realpathSync(absolute);
  } catch {
    const parent = path.dirname(absolute);
    return parent === absolute ? absolute : path.join(realPath(parent), path.basename(absolute));
  }
}

/**
 * Where a module specifier of `file` (root-relative) points, root-relative with `/` separators:
 * a relative path (`./`, `../`, `.`, `..`), an absolute path or a `file:` URL, resolved against
 * the file's folder and followed through symbolic links ({@link realPath}). Undefined for a package
 * name (`hono`, `node:fs`, `cloudflare:workers`) and for a path outside the tree at `root` (`root`
 * must be a real path), which is in no layer.
 */
function targetOf(root: string, file: string, specifier: string): string | undefined {
  let absolute: string;
  if (specifier.startsWith("file:")) {
    try {
      absolute = fileURLToPath(specifier);
    } catch {
      return undefined;
    }
  } else if (path.isAbsolute(specifier)) {
    absolute = path.resolve(specifier);
  } else if (/^\.\.?(\/|$)/.test(specifier)) {
    absolute = path.resolve(root, path.dirname(file), specifier);
  } else {
    return undefined;
  }
  const relative = path.relative(root, realPath(absolute));
  if (relative === ".." || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) return undefined;
  return relative.split(path.sep).join("/");
}

/**
 * Checks every source file under the layers' top folders (`workers/`, `src/`) of the tree at `root`
 * against README.md's layers. Returns the findings, sorted by file and line (empty when every import
 * runs to its own layer or one below): an import of a module in a higher layer; a computed `import()`
 * or `require()`, which cannot be checked; a file under those folders that is in no layer. A path is
 * placed where it really is ({@link targetOf}: absolute, `file:` URL, leaving the tree and coming back,
 * through a symbolic link); a path outside the tree is in no layer, and package imports (`hono`,
 * `cloudflare:workers`) are not checked. Throws when `root` does not exist, README.md's list cannot
 * be read or a file cannot be parsed.
 */
export function checkLayers(tree: string): Finding[] {
  const root = realpathSync(tree);
  const layers = readLayers(readFileSync(path.join(root, "README.md"), "utf8"));
  const tops = [...new Set(layers.flatMap((layer) => layer.folders.map((folder) => `${folder.split("/")[0]}/`)))];
  const findings: Finding[] = [];
  for (const file of tops.flatMap((top) => sourceFiles(root, top))) {
    const own = layerOf(layers, file);
    if (own === undefined) {
      findings.push({ file, line: 1, statement: "", message: "is in no layer of README.md's list" });
      continue;
    }
    const text = readFileSync(path.join(root, file), "utf8");
    for (const { specifier, start, end } of importsOf(file, text)) {
      const line = text.slice(0, start).split("\n").length;
      const statement = text.slice(start, end).replace(/\s+/g, " ");
      if (specifier === undefined) {
        findings.push({ file, line, statement, message: "a computed module name cannot be checked" });
        continue;
      }
      const target = targetOf(root, file, specifier);
      const theirs = target === undefined ? undefined : layerOf(layers, target);
      if (theirs !== undefined && theirs.rank < own.rank) {
        findings.push({ file, line, statement, message: `layer ${own.name} imports layer ${theirs.name} above it` });
      }
    }
  }
  return findings;
}

/** A finding as the script prints it: `file:line: statement: message`. */
export const formatFinding = ({ file, line, statement, message }: Finding) =>
  statement === "" ? `${file}: ${message}` : `${file}:${line}: ${statement}: ${message}`;

// Run as a script, not when a test imports it (`import.meta.main` is newer than some pinned Node 24s).
if (import.meta.filename === path.resolve(process.argv[1] ?? "")) {
  const root = path.resolve(process.argv[2] ?? path.join(import.meta.dirname, ".."));
  try {
    const findings = checkLayers(root);
    for (const finding of findings) console.error(formatFinding(finding));
    if (findings.length > 0) {
      console.error(`check-layers: ${findings.length} import(s) break the layers of README.md's "Folder tree"`);
      process.exitCode = 1;
    } else {
      console.log("check-layers: every import runs to its own layer or one below");
    }
  } catch (error) {
    console.error(`check-layers: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
