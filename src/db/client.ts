import { neonConfig, Pool } from "@neondatabase/serverless";
import { drizzle, type NeonDatabase } from "drizzle-orm/neon-serverless";
import type { DatabaseConfig } from "../pkg/config/config.ts";
import * as schema from "./schema/index.ts";

export type Database = NeonDatabase<typeof schema>;

export interface DatabaseHandle {
  /** Opens the connection pool on first use. */
  readonly db: Database;
  /** Ends the pool; call it before the request (or queue batch) finishes. */
  close(): Promise<void>;
}

let configuredProxy: string | undefined;

/**
 * Locally, `@neondatabase/serverless` talks to the stack's WebSocket proxy (stack/neon-proxy.ts)
 * instead of Neon's: plain ws://, and no pipelined connect because SCRAM needs a round trip.
 * In production none of this is set and the driver's defaults reach Neon.
 */
export function configureDriver(config: DatabaseConfig): void {
  const address = config.localProxy;
  if (!address || configuredProxy === address) return;
  neonConfig.wsProxy = (host, port) => `${address}/v2?address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineConnect = false;
  neonConfig.pipelineTLS = false;
  configuredProxy = address;
}

/**
 * A per-request database: Workers may not share a WebSocket between requests, so the pool is
 * created inside the request and ended before it completes.
 */
export function openDatabase(config: DatabaseConfig): DatabaseHandle {
  configureDriver(config);
  let pool: Pool | undefined;
  let db: Database | undefined;
  return {
    get db() {
      if (!db) {
        pool = new Pool({ connectionString: config.url, max: 4, connectionTimeoutMillis: 5_000 });
        // An idle client that loses its socket emits on the pool; the next query reports it.
        pool.on("error", () => {});
        db = drizzle({ client: pool, schema });
      }
      return db;
    },
    async close() {
      const open = pool;
      pool = undefined;
      db = undefined;
      await open?.end();
    },
  };
}
