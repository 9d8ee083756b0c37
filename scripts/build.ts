// `npm run build`: `wrangler deploy --dry-run` for both workers, then their bundle sizes.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { ROOT } from "../stack/wrangler.ts";

const workers = [
  { name: "api", config: "wrangler.toml" },
  { name: "processor", config: "workers/processor/wrangler.toml" },
];

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const rows: string[][] = [];

for (const worker of workers) {
  const outdir = path.join(ROOT, "dist", worker.name);
  rmSync(outdir, { recursive: true, force: true });
  execFileSync(
    process.execPath,
    [
      path.join(ROOT, "node_modules/wrangler/bin/wrangler.js"),
      "deploy",
      "--dry-run",
      "--config",
      worker.config,
      "--outdir",
      outdir,
    ],
    { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] },
  );
  // Every module wrangler would upload (the script and WebAssembly beside it), not source maps.
  const modules = readdirSync(outdir).filter((file) => /\.(js|mjs|wasm)$/.test(file));
  const bytes = modules.map((file) => readFileSync(path.join(outdir, file)));
  const raw = bytes.reduce((sum, b) => sum + b.byteLength, 0);
  const gzip = bytes.reduce((sum, b) => sum + gzipSync(b, { level: 9 }).byteLength, 0);
  const kinds = [...new Set(modules.map((file) => path.extname(file).slice(1)))].join(", ");
  rows.push([worker.name, worker.config, `${modules.length} (${kinds})`, kib(raw), kib(gzip)]);
}

const header = ["worker", "config", "modules", "raw", "gzip"];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ");
console.log(line(header));
for (const row of rows) console.log(line(row));
console.log("(Workers limits: 3 MiB gzip on the Free plan, 10 MiB on Paid.)");
