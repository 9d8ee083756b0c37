// `npm run build`: `wrangler deploy --dry-run` for both workers, then their bundle sizes.
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
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
  const bundle = readFileSync(path.join(outdir, "index.js"));
  rows.push([worker.name, worker.config, kib(bundle.byteLength), kib(gzipSync(bundle, { level: 9 }).byteLength)]);
}

const header = ["worker", "config", "raw", "gzip"];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ");
console.log(line(header));
for (const row of rows) console.log(line(row));
console.log("(Workers limits: 3 MiB gzip on the Free plan, 10 MiB on Paid.)");
