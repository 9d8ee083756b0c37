import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { signedIn, signedInAdmin } from "../auth-helpers.ts";
import { created, rawUpload, rawUploadWith } from "../document-helpers.ts";
import { apiWith, captureLines, replica, testEnv } from "../helpers.ts";

// The routes' reads over a real streaming replica of the test stack's Postgres
// (stack/postgres-replica.ts), through the app with DATABASE_READ_URL naming it: the caller who
// wrote reads it at once (src/app/read-your-writes.ts); others read the replica, a little behind;
// past the lag bound, or with the replica down, the primary answers. `GET /documents` is one of the
// listings the README's table sends to the replica. The users sign in through the worker's own
// bindings (no replica there), so only what these tests write through `withReplica` leaves a note.

const MAX_LAG_SECONDS = 5;

function withReplica(maxLagSeconds = MAX_LAG_SECONDS) {
  return {
    DATABASE_READ_URL: testEnv.STACK_REPLICA_URL,
    DATABASE_READ_MAX_LAG_SECONDS: String(maxLagSeconds),
    // The fallback's log line (a warning) tells which way a read went.
    LOG_LEVEL: "warn",
  } as Partial<Env>;
}

/** The ids of the documents `ownerId` uploaded that `auth` finds in `GET /documents` (the listing). */
async function listed(
  bindings: Partial<Env>,
  auth: Record<string, string>,
  ownerId: string,
): Promise<{ ids: string[]; logs: Record<string, unknown>[] }> {
  let ids: string[] = [];
  const logs = await captureLines(async () => {
    const res = await apiWith(bindings, `/documents?owner=${ownerId}`, { headers: auth });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`GET /documents: ${res.status} ${text}`);
    ids = (JSON.parse(text) as { data: { id: string }[] }).data.map((document) => document.id);
  });
  return { ids, logs };
}

/** The outcomes of the reads the replica could not serve, from the request's log lines. */
const fallbacks = (logs: Record<string, unknown>[]) =>
  logs.filter((line) => line.message === "replica read served by the primary").map((line) => line.outcome);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function upload(bindings: Partial<Env>, auth: Record<string, string>): Promise<string> {
  const document = await created(rawUploadWith(bindings, auth, `replica ${crypto.randomUUID()}`, "read me back\n"));
  return document.id;
}

beforeEach(async () => {
  await replica("catch-up");
});

afterEach(async () => {
  await replica("start");
  await replica("resume-replay");
});

describe("reads that may be a little stale, with a read replica", () => {
  it("the writer reads their upload at once; another caller's listing comes from the replica, which has not replayed it", async () => {
    const [owner, admin] = await Promise.all([signedIn(), signedInAdmin()]);
    const bindings = withReplica();
    await replica("pause-replay");
    const id = await upload(bindings, owner.auth);

    // The owner wrote: their reads go to the primary for MAX_LAG_SECONDS.
    const own = await listed(bindings, owner.auth, owner.user.id);
    expect(own.ids).toEqual([id]);
    expect(fallbacks(own.logs)).toEqual([]);
    // An administrator lists every document, from the replica: not there yet, and no fallback.
    const other = await listed(bindings, admin.auth, owner.user.id);
    expect(other.ids).toEqual([]);
    expect(fallbacks(other.logs)).toEqual([]);

    await replica("resume-replay");
    await replica("catch-up");
    expect((await listed(bindings, admin.auth, owner.user.id)).ids).toEqual([id]);
  });

  it("go to the primary once the replica is further behind than DATABASE_READ_MAX_LAG_SECONDS", async () => {
    const [owner, admin] = await Promise.all([signedIn(), signedInAdmin()]);
    const bindings = withReplica(1);
    await replica("pause-replay");
    const id = await upload(bindings, owner.auth);
    // Replay paused with the upload received: the last commit the replica replayed ages past 1 s.
    await sleep(1_500);

    const other = await listed(bindings, admin.auth, owner.user.id);
    expect(other.ids).toEqual([id]);
    expect(fallbacks(other.logs)).toEqual(["lagging"]);
  });

  it("go to the primary when the replica is down, answering as usual", async () => {
    const [owner, admin] = await Promise.all([signedIn(), signedInAdmin()]);
    const bindings = withReplica();
    const id = await upload(bindings, owner.auth);
    await replica("stop");

    const other = await listed(bindings, admin.auth, owner.user.id);
    expect(other.ids).toEqual([id]);
    expect(fallbacks(other.logs)).toEqual(["unavailable"]);
  });

  it("follow the writer only after a write that succeeded: a refused one leaves no note", async () => {
    const owner = await signedIn();
    const bindings = withReplica();
    await replica("pause-replay");
    const refused = await apiWith(bindings, `/documents/${crypto.randomUUID()}`, {
      method: "DELETE",
      headers: owner.auth,
    });
    expect(refused.status).toBe(404);
    // Uploaded through the worker's own bindings (no replica, so no note): on the primary only.
    await created(rawUpload(owner.auth, "not replayed yet\n", "text/plain", { title: "primary only" }));

    const own = await listed(bindings, owner.auth, owner.user.id);
    expect(own.ids).toEqual([]);
    expect(fallbacks(own.logs)).toEqual([]);
  });
});
