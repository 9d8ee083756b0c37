// The startup CPU of a built worker: `wrangler check startup` on the bundle `wrangler deploy --dry-run
// --outfile` wrote, then the V8 CPU profile it saved, read back through the bundle's source map.
//
//   node scripts/startup-profile.ts <worker.bundle> <outdir with index.js.map> [profile.cpuprofile]
//
// prints the active CPU and where it went: self time per package or source folder, and time under
// each call the bundle's top-level code made (the module-scope work a lazy import can remove).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { SourceMap } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT } from "../stack/wrangler.ts";

/** The parts of a V8 `.cpuprofile` (Chrome DevTools Protocol, `Profiler.Profile`) read here. */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
    children?: number[];
  }[];
  startTime: number;
  endTime: number;
  /** Node id of each sample. */
  samples: number[];
  /** Microseconds before each sample; wrangler counts each as that sample's time. */
  timeDeltas: number[];
}

/** A worker's startup: CPU in ms, as `wrangler check startup` reports it ("Active"). */
export interface StartupFigure {
  /** Sampled time minus idle, ms (garbage collection included). */
  activeMs: number;
  /** Garbage collection within `activeMs`, ms. */
  garbageCollectionMs: number;
}

/** Active and garbage-collection time of a profile, counted as `wrangler check startup` counts them. */
export function summarise(profile: CpuProfile): StartupFigure {
  const names = new Map(profile.nodes.map((node) => [node.id, node.callFrame.functionName]));
  let active = 0;
  let gc = 0;
  profile.timeDeltas.forEach((delta, index) => {
    const name = names.get(profile.samples[index] ?? -1);
    if (name === "(idle)") return;
    active += delta;
    if (name === "(garbage collector)") gc += delta;
  });
  return { activeMs: active / 1000, garbageCollectionMs: gc / 1000 };
}

/**
 * Runs `wrangler check startup` on a bundle written by `wrangler deploy --dry-run --outfile` and
 * returns the profile it wrote to `outfile`. One run is one cold isolate: take several and the median.
 */
export function profileStartup(bundle: string, outfile: string): CpuProfile {
  execFileSync(
    process.execPath,
    [
      path.join(ROOT, "node_modules/wrangler/bin/wrangler.js"),
      "check",
      "startup",
      "--worker",
      bundle,
      "--outfile",
      outfile,
    ],
    { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] },
  );
  return JSON.parse(readFileSync(outfile, "utf8")) as CpuProfile;
}

/**
 * `node_modules/@scope/name/…` → `@scope/name`; `src/routes/users/x.ts` → `src/routes/users`. Source
 * map paths are relative to the bundle's directory, `outdir`.
 */
function owner(source: string, outdir: string): string {
  const parts = source.split("/");
  const modules = parts.lastIndexOf("node_modules");
  if (modules >= 0) {
    const name = parts[modules + 1] ?? "?";
    return name.startsWith("@") ? `${name}/${parts[modules + 2]}` : name;
  }
  const relative = path.relative(ROOT, path.resolve(outdir, source)).split(path.sep);
  return relative.slice(0, Math.min(3, relative.length - 1)).join("/") || source;
}

/**
 * Where a profile's active time (ms) went, largest first: `self`, per package or source folder of
 * the function that was running; `fromModuleBody`, per package of the function the bundle's module
 * body (all modules' top-level code, hoisted into one function by esbuild) had called, so zod's
 * constructors count where a route's schemas were built. V8 records no call sites, so time in the
 * module body itself shows as one row.
 */
export function attribute(profile: CpuProfile, sourceMap: SourceMap, outdir: string, script = "index.js") {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const where = (id: number) => {
    const frame = byId.get(id)?.callFrame;
    if (!frame) return "?";
    if (!frame.url.endsWith(`/${script}`) && frame.url !== script) return frame.functionName || frame.url || "?";
    if (frame.lineNumber < 0) return `${script} (module body)`;
    const entry = sourceMap.findEntry(frame.lineNumber, frame.columnNumber);
    return "originalSource" in entry ? owner(entry.originalSource, outdir) : "?";
  };
  const self = new Map<string, number>();
  const scope = new Map<string, number>();
  profile.timeDeltas.forEach((delta, index) => {
    const id = profile.samples[index] ?? -1;
    if (byId.get(id)?.callFrame.functionName === "(idle)") return;
    const at = where(id);
    self.set(at, (self.get(at) ?? 0) + delta / 1000);
    // The frame just under the bundle's module body: what its top-level code called.
    let frame = id;
    let top: number | undefined;
    while (parent.has(frame)) {
      const up = parent.get(frame) ?? -1;
      const upFrame = byId.get(up)?.callFrame;
      if (upFrame?.url.endsWith(`/${script}`) && upFrame.lineNumber < 0) top = frame;
      frame = up;
    }
    const key = top === undefined ? "(outside the bundle's module body)" : where(top);
    scope.set(key, (scope.get(key) ?? 0) + delta / 1000);
  });
  const sorted = (map: Map<string, number>) => [...map].sort((a, b) => b[1] - a[1]);
  return { self: sorted(self), fromModuleBody: sorted(scope) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const [bundle, outdir, outfile = path.join(outdir ?? ".", "startup.cpuprofile")] = process.argv.slice(2);
  if (!bundle || !outdir) {
    console.error("usage: node scripts/startup-profile.ts <worker.bundle> <outdir> [profile.cpuprofile]");
    process.exit(2);
  }
  const profile = profileStartup(bundle, outfile);
  const sourceMap = new SourceMap(JSON.parse(readFileSync(path.join(outdir, "index.js.map"), "utf8")));
  const figure = summarise(profile);
  console.log(`startup CPU ${figure.activeMs.toFixed(1)} ms (GC ${figure.garbageCollectionMs.toFixed(1)} ms)`);
  const { self, fromModuleBody } = attribute(profile, sourceMap, outdir);
  const show = (title: string, rows: [string, number][]) => {
    console.log(`\n${title}`);
    for (const [name, ms] of rows.slice(0, 25)) console.log(`${ms.toFixed(1).padStart(7)} ms  ${name}`);
  };
  show("self time by package / folder:", self);
  show("time under calls from the bundle's module body, by the callee's package / folder:", fromModuleBody);
}
