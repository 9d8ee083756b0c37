import { eq, sql } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { asActor, SYSTEM } from "../../src/db/actor.ts";
import { openDatabase } from "../../src/db/client.ts";
import { isDatabaseDeadline } from "../../src/db/errors.ts";
import { documents, documentVersions, uploadIntents } from "../../src/db/schema/documents.ts";
import { createRedisCache } from "../../src/pkg/cache/cache.ts";
import { loadApiConfig, loadProcessorConfig } from "../../src/pkg/config/config.ts";
import { bodyWithPause, keysIn, rawUploadWith } from "../document-helpers.ts";
import { apiWith, expectProblem, outage, outageBindings, outageUser, testEnv } from "../helpers.ts";

// Every call to a dependency has a deadline (README, "Deadlines"). These tests freeze a real
// service of the outage stack (SIGSTOP: its sockets stay open, nothing answers) for far longer
// than the deadline configured here, and check that the answer — a 503 with Retry-After, nothing
// half-written — comes while the service is still frozen. The freeze ends on its own after
// FREEZE_MS (and in afterEach), so without deadlines a request finishes only after it, and fails.

const DEADLINE_MS = 1_000;
const FREEZE_MS = 20_000;

const outageEnv = outageBindings() as Record<string, string>;
const bindings = { ...outageEnv, DATABASE_TIMEOUT_MS: String(DEADLINE_MS), S3_TIMEOUT_MS: String(DEADLINE_MS) };
const database = () => loadApiConfig({ ...testEnv, ...outageEnv }).database;

type Frozen = "postgres" | "redis" | "s3";
const frozen = new Set<Frozen>();
const thawTimers: ReturnType<typeof setTimeout>[] = [];

async function thaw(service: Frozen): Promise<void> {
  if (frozen.delete(service)) await outage(service, "resume");
}

/** Freezes `service` now (or from inside a request body); it thaws by itself after FREEZE_MS. */
async function freeze(service: Frozen): Promise<void> {
  frozen.add(service);
  await outage(service, "pause");
  thawTimers.push(setTimeout(() => void thaw(service), FREEZE_MS));
}

afterEach(async () => {
  for (const timer of thawTimers.splice(0)) clearTimeout(timer);
  for (const service of [...frozen]) await thaw(service);
});

/** Runs `request` and returns its response with how long it took. */
async function timed(request: () => Promise<Response>): Promise<{ res: Response; elapsedMs: number }> {
  const started = Date.now();
  const res = await request();
  return { res, elapsedMs: Date.now() - started };
}

/** A 503 problem naming `dependency`, with Retry-After, that came before the freeze ended. */
async function expectUnavailableInTime(answer: { res: Response; elapsedMs: number }, dependency: string) {
  expect(answer.elapsedMs).toBeLessThan(FREEZE_MS);
  expect(answer.res.headers.get("retry-after")).toMatch(/^\d+$/);
  const problem = await expectProblem(answer.res, 503);
  expect(problem.detail).toContain(dependency);
}

async function rowsTitled(title: string): Promise<number> {
  const handle = openDatabase(database());
  try {
    return (await asActor(handle.db, SYSTEM, (tx) => tx.select().from(documents).where(eq(documents.title, title))))
      .length;
  } finally {
    await handle.close();
  }
}

async function intentKeys(): Promise<string[]> {
  const handle = openDatabase(database());
  try {
    return (await asActor(handle.db, SYSTEM, (tx) => tx.select().from(uploadIntents))).map((row) => row.storageKey);
  } finally {
    await handle.close();
  }
}

/**
 * Objects stored since `before` that no upload intent covers. A request abandoned at its deadline
 * may still be carried out by the server once it thaws (it had read the whole request); such an
 * object must be recorded as an intent, which the sweeper deletes with it.
 */
async function uncoveredObjects(before: string[]): Promise<string[]> {
  const intents = new Set(await intentKeys());
  return (await keysIn(outageEnv, "documents/")).filter((key) => !before.includes(key) && !intents.has(key));
}

describe("S3 frozen", () => {
  it("an upload answers 503 within the deadline and stores nothing", async () => {
    const auth = await outageUser();
    const before = await keysIn(outageEnv, "documents/");
    const title = "s3 frozen before upload";
    await freeze("s3");
    await expectUnavailableInTime(await timed(() => rawUploadWith(bindings, auth, title, "content")), "storage");
    await thaw("s3");
    expect(await rowsTitled(title)).toBe(0);
    expect(await uncoveredObjects(before)).toEqual([]);
  });

  it("an upload during which S3 freezes answers 503 within the deadline, no row", async () => {
    const auth = await outageUser();
    const before = await keysIn(outageEnv, "documents/");
    const title = "s3 freezes midway";
    const answer = await timed(() =>
      rawUploadWith(
        bindings,
        auth,
        title,
        bodyWithPause(() => freeze("s3")),
      ),
    );
    await expectUnavailableInTime(answer, "storage");
    await thaw("s3");
    expect(await rowsTitled(title)).toBe(0);
    expect(await uncoveredObjects(before)).toEqual([]);
  });

  it("an upload abandoned at its deadline keeps its intent even when the store then recovers", async () => {
    // S3 answers again between the abandoned write and the delete that undoes it. The write may
    // still be carried out after that delete (the server had the whole request): only the intent,
    // which the sweeper acts on, covers that object.
    const auth = await outageUser();
    const before = await intentKeys();
    const title = "s3 recovers after the deadline";
    const slow = { ...bindings, S3_TIMEOUT_MS: "2000" };
    const res = await apiWith(slow, `/documents?title=${encodeURIComponent(title)}`, {
      method: "POST",
      headers: { ...auth, "content-type": "text/plain" },
      body: bodyWithPause(async () => {
        await freeze("s3");
        // Past the write's deadline (2 s), well before the delete's (2 s after that).
        setTimeout(() => void thaw("s3"), 3_000);
      }),
      duplex: "half",
    } as RequestInit);
    const problem = await expectProblem(res, 503);
    expect(problem.detail).toContain("storage");
    expect(await rowsTitled(title)).toBe(0);
    const added = (await intentKeys()).filter((key) => !before.includes(key));
    expect(added).toHaveLength(1);
  });

  it("a download answers 503 within the deadline", async () => {
    const auth = await outageUser();
    const res = await rawUploadWith(bindings, auth, "download while s3 frozen", "the content");
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    // The processor of these tests serves the shared stack; mark the version scanned here.
    const handle = openDatabase(database());
    try {
      await asActor(handle.db, SYSTEM, (tx) =>
        tx.update(documentVersions).set({ scanResult: "clean" }).where(eq(documentVersions.documentId, id)),
      );
    } finally {
      await handle.close();
    }
    const ok = await apiWith(bindings, `/documents/${id}/content`, { headers: auth });
    expect(await ok.text()).toBe("the content");

    await freeze("s3");
    await expectUnavailableInTime(
      await timed(() => apiWith(bindings, `/documents/${id}/content`, { headers: auth })),
      "storage",
    );
  });
});

describe("Postgres frozen", () => {
  it("leaves the request's pool usable once Postgres answers again", async () => {
    const handle = openDatabase({ ...database(), timeoutMs: DEADLINE_MS });
    const transaction = () => asActor(handle.db, SYSTEM, (tx) => tx.execute(sql`select 1`));
    try {
      // Four open connections (the pool's maximum), idle.
      await Promise.all([transaction(), transaction(), transaction(), transaction()]);
      await freeze("postgres");
      // Each reuses an open connection whose first statement (begin) passes its deadline.
      const failed = await Promise.allSettled([transaction(), transaction(), transaction(), transaction()]);
      expect(failed.map((result) => result.status)).toEqual(["rejected", "rejected", "rejected", "rejected"]);
      for (const result of failed) {
        if (result.status === "rejected") expect(isDatabaseDeadline(result.reason)).toBe(true);
      }
      await thaw("postgres");
      // The abandoned connections went back to the pool as broken, so it opens new ones.
      const started = Date.now();
      await transaction();
      expect(Date.now() - started).toBeLessThan(FREEZE_MS);
    } finally {
      await handle.close();
    }
  });

  it("a request answers 503 within the deadline", async () => {
    const auth = await outageUser();
    await freeze("postgres");
    await expectUnavailableInTime(
      await timed(() => apiWith(bindings, `/documents/${crypto.randomUUID()}`, { headers: auth })),
      "postgres",
    );
  });

  it("an upload during whose body Postgres freezes answers 503 within the deadline; no row, the object left to the sweeper", async () => {
    const auth = await outageUser();
    const before = await keysIn(outageEnv, "documents/");
    const intents = (await intentKeys()).length;
    const title = "postgres freezes midway";
    // The intent is recorded before the body streams; Postgres freezes while it does, so the
    // record step's HTTP batch gets no answer within the deadline.
    const answer = await timed(() =>
      rawUploadWith(
        bindings,
        auth,
        title,
        bodyWithPause(() => freeze("postgres")),
      ),
    );
    await expectUnavailableInTime(answer, "postgres");
    await thaw("postgres");
    expect(await rowsTitled(title)).toBe(0);
    // A batch without an answer may have committed, so its object is kept; the intent, which only
    // that batch could have ended, stays and leads the sweeper to it: nothing is left uncovered.
    expect((await intentKeys()).length).toBe(intents + 1);
    expect(await uncoveredObjects(before)).toEqual([]);
  });
});

describe("Postgres slower than the deadline at commit", () => {
  it("an upload whose commit outlives the deadline keeps its object: the commit may still happen", async () => {
    // The deadline passes while the server is committing (a deferred trigger sleeps at commit).
    // The client cannot know whether that commit happens, so the object must stay: recorded by
    // the version if the commit happened, else covered by the intent the same batch would have
    // ended (the sweeper's path). Locally the Neon HTTP endpoint cancels the statement of an
    // abandoned request, so it rolls back; a server that committed it anyway would leave the
    // version, which is why the object is kept in both cases. Only the trigger's document is slowed.
    const auth = await outageUser();
    const title = `slow commit ${crypto.randomUUID()}`;
    const before = await keysIn(outageEnv, "documents/");
    const handle = openDatabase(database());
    const ddl = (statement: string) => handle.db.execute(sql.raw(statement));
    await ddl(
      "create or replace function deadline_test_slow_commit() returns trigger language plpgsql as $$ begin perform pg_sleep(3); return null; end $$",
    );
    await ddl(`drop trigger if exists deadline_test_slow_commit on documents`);
    await ddl(
      `create constraint trigger deadline_test_slow_commit after insert on documents deferrable initially deferred for each row when (new.title = '${title}') execute function deadline_test_slow_commit()`,
    );
    try {
      const problem = await expectProblem(await rawUploadWith(bindings, auth, title, "committed late"), 503);
      // Not "nothing was changed": the client must check before uploading again.
      expect(problem.detail).toBe(
        "postgres did not confirm the change in time; it may or may not have been made. Check before retrying.",
      );
      // Past the trigger's sleep, whatever the server did is settled.
      await new Promise((resolve) => setTimeout(resolve, 3_500));
      const stored = (await keysIn(outageEnv, "documents/")).filter((key) => !before.includes(key));
      expect(stored).toHaveLength(1);
      const [document] = await asActor(handle.db, SYSTEM, (tx) =>
        tx.select().from(documents).where(eq(documents.title, title)),
      );
      if (document) {
        const [version] = await asActor(handle.db, SYSTEM, (tx) =>
          tx.select().from(documentVersions).where(eq(documentVersions.documentId, document.id)),
        );
        expect(version?.storageKey).toBe(stored[0]);
      } else {
        expect(await intentKeys()).toContain(stored[0]);
      }
    } finally {
      await ddl("drop trigger if exists deadline_test_slow_commit on documents");
      await ddl("drop function if exists deadline_test_slow_commit()");
      await handle.close();
    }
  });
});

describe("an OpenID provider that never answers", () => {
  it("third-party login answers 503 with Retry-After within the configured deadline", async () => {
    // stack/control.ts: /stall/… accepts requests and never answers.
    const issuer = `${testEnv.CONTROL_URL}/stall/oidc-${crypto.randomUUID().slice(0, 8)}`;
    const answer = await timed(() =>
      apiWith(
        {
          OIDC_PROVIDERS: JSON.stringify([{ id: "stalled", issuer, clientId: "techcorp-api" }]),
          OIDC_TIMEOUT_MS: String(DEADLINE_MS),
        } as Partial<Env>,
        "/auth/oidc/stalled/authorize",
      ),
    );
    // The provider never answers, so the bound is the configured deadline plus a wide margin,
    // below the 5 s default that applies when the setting is ignored.
    expect(answer.elapsedMs).toBeLessThan(DEADLINE_MS + 3_000);
    expect(answer.res.headers.get("retry-after")).toMatch(/^\d+$/);
    const problem = await expectProblem(answer.res, 503);
    expect(problem.detail).toContain("identity provider");
  });
});

describe("Redis frozen", () => {
  const cacheWith = (timeoutMs: number) => {
    const config = loadApiConfig({ ...testEnv, ...outageEnv, REDIS_TIMEOUT_MS: String(timeoutMs) }).cache;
    if (!config) throw new Error("the outage stack has no Redis");
    return createRedisCache(config);
  };

  it("a command gives up at REDIS_TIMEOUT_MS, before the freeze ends", async () => {
    await freeze("redis");
    const started = Date.now();
    await expect(cacheWith(DEADLINE_MS).ping()).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(FREEZE_MS);
  });

  it("a command waits as long as REDIS_TIMEOUT_MS allows", async () => {
    // Frozen for 2 s: within a 15 s deadline the answer comes once Redis goes on.
    await freeze("redis");
    setTimeout(() => void thaw("redis"), 2_000);
    await expect(cacheWith(15_000).ping()).resolves.toBeUndefined();
  });
});

describe("deadline settings", () => {
  it("fail closed on a value that is not whole milliseconds from 100 to 600000, naming the variable", async () => {
    const names = [
      "DATABASE_TIMEOUT_MS",
      "S3_TIMEOUT_MS",
      "QUEUE_TIMEOUT_MS",
      "REDIS_TIMEOUT_MS",
      "OIDC_TIMEOUT_MS",
    ] as const;
    for (const name of names) {
      for (const value of ["soon", "50", "1.5", "600001"]) {
        const problem = await expectProblem(await apiWith({ [name]: value } as Partial<Env>, "/health"), 500);
        expect(problem.type).toBe("/problems/config_invalid");
        expect(problem.detail).toContain(name);
        expect(problem.detail).not.toContain(value);
      }
    }
  });

  it("have defaults, and take a value given", () => {
    const defaults = loadApiConfig({ ...testEnv });
    expect(defaults.database.timeoutMs).toBe(10_000);
    expect(defaults.storage.timeoutMs).toBe(30_000);
    expect(defaults.queueTimeoutMs).toBe(5_000);
    const given = loadApiConfig({ ...testEnv, DATABASE_TIMEOUT_MS: "2500", S3_TIMEOUT_MS: "100" });
    expect(given.database.timeoutMs).toBe(2_500);
    expect(given.storage.timeoutMs).toBe(100);
    expect(defaults.auth.oidcProviders.every((provider) => provider.timeoutMs === 5_000)).toBe(true);

    const processor = loadProcessorConfig({ ...testEnv });
    expect(processor.virusScan?.timeoutMs).toBe(60_000);
    expect(processor.webhooks.timeoutMs).toBe(10_000);
    for (const name of ["CLAMD_TIMEOUT_MS", "WEBHOOK_TIMEOUT_MS"]) {
      expect(() => loadProcessorConfig({ ...testEnv, [name]: "50" })).toThrow(name);
    }
  });
});
