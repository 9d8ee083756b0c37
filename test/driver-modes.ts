import type { RunnableQuery } from "drizzle-orm/runnable-query";
import { type Actor, asActor, batchAsActor, type Queryable } from "../src/db/actor.ts";
import type { DatabaseHandle } from "../src/db/client.ts";

/** A statement built on either mode's builder: awaitable, and a batch item. */
export type Statement<R> = PromiseLike<R> & RunnableQuery<R, "pg">;

/** One of the driver's two modes, for tests that prove a rule in both. */
export interface Mode {
  name: string;
  /** Runs one statement as `actor` and resolves to its result. */
  run<R>(actor: Actor, build: (db: Queryable) => Statement<R>): Promise<R>;
}

/**
 * The driver's two modes over `handle`: `asActor` (WebSocket, interactive) and `batchAsActor`
 * (HTTP, one batch whose first statement carries the settings), for `describe.each`.
 */
export function driverModes(handle: DatabaseHandle): Mode[] {
  return [
    {
      name: "asActor (WebSocket)",
      run: (actor, build) => asActor(handle.db, actor, async (tx) => build(tx)),
    },
    {
      name: "batchAsActor (HTTP)",
      run: async (actor, build) => {
        const [result] = await batchAsActor(handle.http, actor, (db) => [build(db)]);
        return result;
      },
    },
  ];
}
