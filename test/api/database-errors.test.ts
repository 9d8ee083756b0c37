import { NeonDbError } from "@neondatabase/serverless";
import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { batchAsActor, SYSTEM } from "../../src/db/actor.ts";
import { openDatabase } from "../../src/db/client.ts";
import {
  DatabaseUnreachableError,
  isDatabaseUnavailable,
  isInvalidValue,
  serverError,
  uniqueViolation,
} from "../../src/db/errors.ts";
import { selectUser } from "../../src/db/queries/users.ts";
import { users } from "../../src/db/schema/users.ts";
import { loadApiConfig } from "../../src/pkg/config/config.ts";
import { uniqueName } from "../auth-helpers.ts";
import { testEnv } from "../helpers.ts";

// How errors are classified, on errors built as each driver mode builds them: test/unit/database-errors.test.ts.
describe("the HTTP mode's errors from the real endpoint", () => {
  const config = loadApiConfig(testEnv).database;
  const handle = openDatabase(config);
  afterAll(() => handle.close());

  it("carries the SQLSTATE and the constraint of a unique violation, as the WebSocket mode does", async () => {
    const name = uniqueName("dup");
    const values = { email: `${name}@example.com`, username: name, passwordHash: "!" };
    const error = await batchAsActor(handle.http, SYSTEM, (db) => [
      db.insert(users).values(values),
      db.insert(users).values({ ...values, username: `${name}-2` }),
    ]).catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(NeonDbError);
    expect(uniqueViolation(error)).toMatch(/email/);
  });

  it("classifies a value Postgres refuses (class 22) as the client's mistake", async () => {
    const error = await batchAsActor(handle.http, SYSTEM, (db) => [
      db
        .select({ n: sql<number>`${"not a number"}::int` })
        .from(users)
        .limit(1),
    ]).catch((reason: unknown) => reason);
    expect(serverError(error)?.code).toBe("22P02");
    expect(isInvalidValue(error)).toBe(true);
    expect(isDatabaseUnavailable(error)).toBe(false);
  });

  it("throws DatabaseUnreachableError when the endpoint cannot be reached", async () => {
    // A database whose local endpoint listens nowhere (port 1 refuses connections).
    const unreachable = openDatabase({
      ...config,
      url: "postgresql://app:secret@unreachable.invalid:5432/app",
      localProxy: "127.0.0.1:1",
    });
    const error = await batchAsActor(unreachable.http, SYSTEM, (db) => [
      selectUser(db, { id: crypto.randomUUID() }),
    ]).catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(DatabaseUnreachableError);
    expect(isDatabaseUnavailable(error)).toBe(true);
  });
});
