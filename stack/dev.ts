// `npm run dev`: the local stack, migrations, then both workers in one `wrangler dev` session.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { startStack } from "./stack.ts";

const root = path.resolve(import.meta.dirname, "..");
const dataDir = path.join(root, ".local");
const port = Number(process.env.PORT ?? 8787);

const say = (line: string) => console.log(`[dev] ${line}`);

async function main(): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  say("starting the local stack (data kept in .local/) …");
  const stack = await startStack({
    dataDir,
    mode: "dev",
    ...(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : {}),
    redis: "optional",
    log: say,
  });
  for (const line of stack.describe()) say(line);
  say("migrations applied");

  // Wrangler reads these like a .dev.vars file; a developer's own .dev.vars, loaded after, wins.
  const envFile = path.join(dataDir, "stack.env");
  await writeFile(
    envFile,
    `${Object.entries(stack.env)
      .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
      .join("\n")}\n`,
  );
  const envFiles = [envFile, ...(existsSync(path.join(root, ".dev.vars")) ? [path.join(root, ".dev.vars")] : [])];

  const wrangler: ChildProcess = spawn(
    process.execPath,
    [
      path.join(root, "node_modules/wrangler/bin/wrangler.js"),
      "dev",
      "--config",
      "wrangler.toml",
      "--config",
      "workers/processor/wrangler.toml",
      ...envFiles.flatMap((file) => ["--env-file", file]),
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--persist-to",
      path.join(dataDir, "wrangler"),
      "--show-interactive-dev-session=false",
    ],
    { cwd: root, stdio: "inherit", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } },
  );
  say(`API on http://localhost:${port} (docs at /docs, readiness at /ready); Ctrl-C stops everything`);

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say("stopping …");
    if (wrangler.exitCode === null) {
      const exited = new Promise((resolve) => wrangler.once("exit", resolve));
      wrangler.kill("SIGTERM");
      await exited;
    }
    await stack.stop();
    say("stopped");
    process.exit(code);
  };
  process.on("SIGINT", () => void stop(0));
  process.on("SIGTERM", () => void stop(0));
  wrangler.once("exit", (code) => void stop(code ?? 0));
}

main().catch((error: unknown) => {
  console.error(`[dev] ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
