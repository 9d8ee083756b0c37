// `npm run build`: the web app into dist/web (the API worker's assets, web/vite.config.ts), then
// `wrangler deploy --dry-run` for both workers, their bundle sizes and their startup CPU (`wrangler
// check startup` on the same bundle: the least of STARTUP_RUNS runs, each a new isolate), and the
// assets' size. `npm run build -- --no-startup` skips the startup runs (about 3 s each).
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { ROOT } from "../stack/wrangler.ts";
import { buildWeb, WEB_BUILD } from "../web/build/build.ts";
import { profileStartup, summarise } from "./startup-profile.ts";

const workers = [
  { name: "api", config: "wrangler.toml" },
  { name: "processor", config: "workers/processor/wrangler.toml" },
];
/**
 * Cold isolates profiled per worker. The least is printed: other processes on the machine only add
 * to a run (the profiler samples wall time while the isolate runs), so the fastest run is the one
 * closest to the worker's own CPU.
 */
const STARTUP_RUNS = 3;
const measureStartup = !process.argv.includes("--no-startup");

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const rows: string[][] = [];

// First: wrangler reads the API worker's [assets] directory.
buildWeb();

for (const worker of workers) {
  const outdir = path.join(ROOT, "dist", worker.name);
  const bundle = path.join(ROOT, "dist", `${worker.name}.bundle`);
  rmSync(outdir, { recursive: true, force: true });
  execFileSync(
    process.execPath,
    [
      path.join(ROOT, "node_modules/wrangler/bin/wrangler.js"),
      "deploy",
      "--dry-run",
      "--config",
      worker.config,
      // The top-level (development) environment, named so wrangler does not warn that none was.
      "--env=",
      "--outdir",
      outdir,
      // The upload as wrangler would send it (multipart), which `wrangler check startup` reads.
      "--outfile",
      bundle,
    ],
    { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] },
  );
  // Every module wrangler would upload (the script and WebAssembly beside it), not source maps.
  const modules = readdirSync(outdir).filter((file) => /\.(js|mjs|wasm)$/.test(file));
  const bytes = modules.map((file) => readFileSync(path.join(outdir, file)));
  const raw = bytes.reduce((sum, b) => sum + b.byteLength, 0);
  const gzip = bytes.reduce((sum, b) => sum + gzipSync(b, { level: 9 }).byteLength, 0);
  const kinds = [...new Set(modules.map((file) => path.extname(file).slice(1)))].join(", ");
  const row = [worker.name, worker.config, `${modules.length} (${kinds})`, kib(raw), kib(gzip)];
  if (measureStartup) {
    const runs = Array.from({ length: STARTUP_RUNS }, (_, run) =>
      summarise(profileStartup(bundle, path.join(outdir, `startup-${run + 1}.cpuprofile`))),
    );
    const active = runs.map((figure) => figure.activeMs);
    row.push(`${Math.min(...active).toFixed(0)} ms (${active.map((ms) => ms.toFixed(0)).join(", ")})`);
  }
  rows.push(row);
}

const header = ["worker", "config", "modules", "raw", "gzip", ...(measureStartup ? ["startup CPU"] : [])];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ");
console.log(line(header));
for (const row of rows) console.log(line(row));
console.log("(Workers limits: 3 MiB gzip on the Free plan, 10 MiB on Paid.)");

// The assets wrangler would upload beside the API worker (`_headers` is read, not uploaded).
const assets = readdirSync(WEB_BUILD, { recursive: true, withFileTypes: true })
  .filter((entry) => entry.isFile() && entry.name !== "_headers")
  .map((entry) => readFileSync(path.join(entry.parentPath, entry.name)));
console.log(
  `Web app and reference (dist/web): ${assets.length} files, ${kib(assets.reduce((sum, b) => sum + b.byteLength, 0))} raw, ` +
    `${kib(assets.reduce((sum, b) => sum + gzipSync(b, { level: 9 }).byteLength, 0))} gzip ` +
    "(Workers Static Assets: 25 MiB a file, served by the asset layer, not counted in the worker's size).",
);
if (measureStartup) {
  console.log(
    `(Startup CPU: the least of ${STARTUP_RUNS} \`wrangler check startup\` runs on this machine's CPU, ` +
      "all runs in brackets; the profiles are in dist/<worker>/startup-*.cpuprofile, read them with " +
      "`node scripts/startup-profile.ts dist/<worker>.bundle dist/<worker>`.)",
  );
}
