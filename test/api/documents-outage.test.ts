import { eq } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { asActor, SYSTEM } from "../../src/db/actor.ts";
import { openDatabase } from "../../src/db/client.ts";
import { documents, uploadIntents } from "../../src/db/schema/documents.ts";
import { bodyWithPause, keysIn, rawUploadWith } from "../document-helpers.ts";
import { apiWith, expectProblem, outage, outageBindings, outageUser } from "../helpers.ts";

// Uploads against a stack whose services these tests stop (never the shared one), by a user
// registered on that stack through its own API.

const outageEnv = outageBindings() as Record<string, string>;
const stopped: ("postgres" | "s3")[] = [];

afterEach(async () => {
  for (const service of stopped.splice(0)) await outage(service, "start");
});

async function stop(service: "postgres" | "s3") {
  stopped.push(service);
  await outage(service, "stop");
}

async function start(service: "postgres" | "s3") {
  await outage(service, "start");
  stopped.splice(stopped.indexOf(service), 1);
}

async function rowsTitled(title: string): Promise<number> {
  const handle = openDatabase({
    url: outageEnv.DATABASE_URL ?? "",
    localProxy: outageEnv.NEON_LOCAL_PROXY,
    timeoutMs: 10_000,
  });
  try {
    return (await asActor(handle.db, SYSTEM, (tx) => tx.select().from(documents).where(eq(documents.title, title))))
      .length;
  } finally {
    await handle.close();
  }
}

async function intentCount(): Promise<number> {
  const handle = openDatabase({
    url: outageEnv.DATABASE_URL ?? "",
    localProxy: outageEnv.NEON_LOCAL_PROXY,
    timeoutMs: 10_000,
  });
  try {
    return (await asActor(handle.db, SYSTEM, (tx) => tx.select().from(uploadIntents))).length;
  } finally {
    await handle.close();
  }
}

describe("an upload while a dependency is down leaves nothing half-written", () => {
  it("S3 down: 503, no row, no object", async () => {
    const auth = await outageUser();
    const before = await keysIn(outageEnv, "documents/");
    await stop("s3");
    const problem = await expectProblem(await rawUploadWith(outageEnv, auth, "during s3 outage", "content"), 503);
    expect(problem.detail).toContain("storage");
    await start("s3");
    expect(await rowsTitled("during s3 outage")).toBe(0);
    expect(await keysIn(outageEnv, "documents/")).toEqual(before);
  });

  it("S3 goes down in the middle of the upload: 503, no row", async () => {
    const auth = await outageUser();
    const title = "s3 dies midway";
    const problem = await expectProblem(
      await rawUploadWith(
        outageEnv,
        auth,
        title,
        bodyWithPause(() => stop("s3")),
      ),
      503,
    );
    expect(problem.detail).toContain("storage");
    await start("s3");
    expect(await rowsTitled(title)).toBe(0);
  });

  it("Postgres down: 503 before any byte is stored", async () => {
    const auth = await outageUser();
    const before = await keysIn(outageEnv, "documents/");
    await stop("postgres");
    const problem = await expectProblem(await rawUploadWith(outageEnv, auth, "during postgres outage", "content"), 503);
    expect(problem.detail).toContain("postgres");
    expect(await keysIn(outageEnv, "documents/")).toEqual(before);
    await start("postgres");
    expect(await rowsTitled("during postgres outage")).toBe(0);
  });

  it("Postgres goes down after the file is stored: 503, and the stored object is removed again", async () => {
    const auth = await outageUser();
    const before = await keysIn(outageEnv, "documents/");
    const intents = await intentCount();
    const title = "postgres dies midway";
    // The intent is recorded and streaming has begun when the database goes away.
    const problem = await expectProblem(
      await rawUploadWith(
        outageEnv,
        auth,
        title,
        bodyWithPause(() => stop("postgres")),
      ),
      503,
    );
    expect(problem.detail).toContain("postgres");
    expect(await keysIn(outageEnv, "documents/")).toEqual(before);
    await start("postgres");
    expect(await rowsTitled(title)).toBe(0);
    // The intent could not be removed while Postgres was down: it stays for the sweeper, whose
    // deletion of an object already gone is harmless.
    expect(await intentCount()).toBe(intents + 1);
  });

  it("Postgres down: reading a document answers 503, not 500", async () => {
    const auth = await outageUser();
    await stop("postgres");
    const problem = await expectProblem(
      await apiWith(outageEnv, `/documents/${crypto.randomUUID()}`, { headers: auth }),
      503,
    );
    expect(problem.detail).toBe("postgres is unavailable; nothing was changed. Retry later.");
  });
});
