// A session of the platform's system role over a plain Postgres connection, for the admin scripts,
// drills and Node tests that read or write past row-level security.
import pg from "pg";

/**
 * Runs `work` in one transaction as the system (`app.role` = `system`, which every row-level
 * security policy lets through; src/db/actor.ts) on a connection of its own to `url`, and commits
 * when `work` resolves. The connection ends either way, which rolls back a transaction `work` left
 * failed.
 * @returns what `work` resolves to.
 * @throws what connecting, `work` or the commit throws.
 */
export async function asSystemSession<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("begin");
    await client.query("select set_config('app.role', 'system', true)");
    const result = await work(client);
    await client.query("commit");
    return result;
  } finally {
    await client.end();
  }
}
