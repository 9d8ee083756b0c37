import { fileURLToPath } from "node:url";
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";

export const MIGRATIONS_DIR = fileURLToPath(new URL("../migrations", import.meta.url));

/**
 * Applies the drizzle-kit migrations in `migrations/`, recording them in drizzle's journal table
 * exactly as `drizzle-kit migrate` does, so either can be used against the same database. A restore
 * passes a copy of the folder whose journal stops at its backup's schema (scripts/backup/database.ts).
 */
export async function applyMigrations(databaseUrl: string, migrationsFolder = MIGRATIONS_DIR): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await migrate(drizzle(client), { migrationsFolder });
  } finally {
    await client.end();
  }
}
