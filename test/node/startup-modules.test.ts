import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "../../stack/wrangler.ts";

// What a new isolate of each worker evaluates before its first request, in the bundle wrangler
// deploys. Modules that only some requests need are imported with `import()`; esbuild bundles
// without splitting, so each becomes a function of the same script (`__esm`, named by the module's
// path) that runs when first imported. This test builds both workers, starts each bundle as
// `wrangler check startup` does (a new isolate importing the main module) with esbuild's wrapper
// helpers recording what they evaluate, and checks that no module of those packages ran and none
// was left outside a wrapper (a static import anywhere hoists a module into the top-level code).

const WORKERS = [
  {
    name: "api",
    config: "wrangler.toml",
    lazy: ["@cf-wasm/photon", "image-size", "markdown-it", "entities", "file-type"],
  },
  {
    name: "processor",
    config: "workers/processor/wrangler.toml",
    lazy: ["unpdf", "saxes", "fflate", "@cf-wasm/photon", "markdown-it"],
  },
] as const;

const scratch = mkdtempSync(path.join(tmpdir(), "startup-modules-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** `wrangler deploy --dry-run` into a directory: the script and the WebAssembly modules beside it. */
function build(config: string, outdir: string): { script: string; wasm: string[]; settings: Settings } {
  execFileSync(
    process.execPath,
    [path.join(ROOT, "node_modules/wrangler/bin/wrangler.js"), "deploy", "--dry-run", "-c", config, "--outdir", outdir],
    { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] },
  );
  const files = readdirSync(outdir);
  const script = files.find((file) => file.endsWith(".js"));
  if (!script) throw new Error(`no script in ${outdir}`);
  return { script, wasm: files.filter((file) => file.endsWith(".wasm")), settings: readSettings(config) };
}

interface Settings {
  compatibilityDate: string;
  compatibilityFlags: string[];
}

function readSettings(config: string): Settings {
  const text = readFileSync(path.join(ROOT, config), "utf8");
  const date = /^compatibility_date = "([^"]+)"/m.exec(text)?.[1];
  const flags = /^compatibility_flags = \[([^\]]*)\]/m.exec(text)?.[1] ?? "";
  if (!date) throw new Error(`no compatibility_date in ${config}`);
  return { compatibilityDate: date, compatibilityFlags: [...flags.matchAll(/"([^"]+)"/g)].map((m) => m[1] ?? "") };
}

/**
 * The helpers esbuild wraps a lazily evaluated module in (ES module, CommonJS module); the first
 * parameter, whose one key names the module, may be renamed (`fn2`) to avoid a clash.
 */
const WRAPPERS = [
  /^var __esm = \((\w+), \w+, \w+\) => function __init\(\) \{$/m,
  /^var __commonJS = \((\w+), \w+\) => function __require\(\) \{$/m,
];

/**
 * Starts the bundle in workerd the way `wrangler check startup` does (an entry that imports the
 * main module on its first request) and returns the wrapped modules its startup evaluated: the
 * bundle is first changed so that esbuild's two wrapper helpers record the module each runs.
 */
async function startupModules(outdir: string, built: ReturnType<typeof build>): Promise<string[]> {
  const file = path.join(outdir, built.script);
  let script = readFileSync(file, "utf8");
  for (const helper of WRAPPERS) {
    const found = helper.exec(script);
    // Fails loudly, never passes quietly, if esbuild's helpers change.
    if (!found?.[1]) throw new Error(`${built.script} has no helper like ${helper}`);
    const module = found[1];
    script = script.replace(
      found[0],
      `${found[0]}\n  if (${module}) (globalThis.__startupModules ??= []).push(__getOwnPropNames(${module})[0]);`,
    );
  }
  writeFileSync(file, script);
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      name: "startup",
      compatibilityDate: built.settings.compatibilityDate,
      compatibilityFlags: built.settings.compatibilityFlags,
      modulesRoot: outdir,
      modules: [
        {
          type: "ESModule",
          path: path.join(outdir, "startup-entry.mjs"),
          contents: `export default { async fetch() { await import("./${built.script}"); return Response.json(globalThis.__startupModules ?? []); } };`,
        },
        { type: "ESModule", path: file },
        ...built.wasm.map((wasm) => ({ type: "CompiledWasm" as const, path: path.join(outdir, wasm) })),
      ],
    }),
  );
  try {
    const response = await mf.dispatchFetch("http://startup.invalid/");
    return (await response.json()) as string[];
  } finally {
    await mf.dispose();
  }
}

/**
 * The wrapped modules of a package: `"node_modules/<package>/…"() {` (`__esm`) or
 * `"node_modules/<package>/…"(exports, module) {` (`__commonJS`) in the script.
 */
function wrappedModules(script: string, name: string): string[] {
  const escaped = name.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  const pattern = new RegExp(`^\\s+"((?:\\.\\./)*node_modules/${escaped}/[^"]+)"\\([^)]*\\) \\{$`, "gm");
  return [...script.matchAll(pattern)].map((match) => match[1] ?? "");
}

/** Where esbuild put a package's modules: `// node_modules/<package>/…` opens each. */
function bundledModules(script: string, name: string): string[] {
  const escaped = name.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  const pattern = new RegExp(`^// ((?:\\.\\./)*node_modules/${escaped}/\\S+)$`, "gm");
  return [...script.matchAll(pattern)].map((match) => match[1] ?? "");
}

describe.each(WORKERS)("the $name worker's startup", ({ name, config, lazy }) => {
  it(`evaluates none of ${lazy.join(", ")} before a request needs them`, async () => {
    const outdir = path.join(scratch, name);
    const built = build(config, outdir);
    const script = readFileSync(path.join(outdir, built.script), "utf8");
    const ran = new Set(await startupModules(outdir, built));
    // The record saw the startup: some wrapped modules (e.g. the Hono app's) are evaluated at once.
    expect(ran.size).toBeGreaterThan(0);

    for (const dependency of lazy) {
      const bundled = bundledModules(script, dependency);
      expect(bundled.length, `${dependency} is in the ${name} bundle`).toBeGreaterThan(0);
      // A module imported statically anywhere is hoisted into the top-level code: not wrapped.
      const wrapped = new Set(wrappedModules(script, dependency));
      const eager = bundled.filter((module) => !wrapped.has(module) && !isTypeOnly(script, module));
      expect(eager, `${dependency}: modules evaluated with the script`).toEqual([]);
      expect(
        [...wrapped].filter((module) => ran.has(module)),
        `${dependency}: modules imported at startup`,
      ).toEqual([]);
    }
  }, 180_000);
});

/** A module esbuild kept only for a comment (no code between its header and the next one). */
function isTypeOnly(script: string, module: string): boolean {
  const start = script.indexOf(`// ${module}\n`);
  const next = script.indexOf("\n// ", start + 1);
  return script.slice(start + module.length + 4, next === -1 ? undefined : next).trim() === "";
}
