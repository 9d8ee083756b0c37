import { execFile } from "node:child_process";
import { promisify } from "node:util";
import pg from "pg";
import { describe, expect, inject, it } from "vitest";

const run = promisify(execFile);

async function withSystem<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: inject("stack").DATABASE_URL_UNPOOLED });
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

describe("npm run users:make-admin", () => {
  it("gives an existing account the admin role", async () => {
    const email = `first-admin-${Date.now()}@example.com`;
    await withSystem((c) =>
      c.query("insert into users (email, username, password_hash) values ($1, $2, '!')", [
        email,
        `first-admin-${Date.now()}`,
      ]),
    );
    const { stdout } = await run(process.execPath, ["scripts/make-admin.ts", email.toUpperCase()], {
      env: { ...process.env, DATABASE_URL: inject("stack").DATABASE_URL_UNPOOLED },
    });
    expect(stdout).toContain("is now an admin");
    const { rows } = await withSystem((c) =>
      c.query<{ role: string }>("select role from users where email = $1", [email]),
    );
    expect(rows).toEqual([{ role: "admin" }]);
  });

  it("fails for an unknown email", async () => {
    await expect(
      run(process.execPath, ["scripts/make-admin.ts", "nobody@example.com"], {
        env: { ...process.env, DATABASE_URL: inject("stack").DATABASE_URL_UNPOOLED },
      }),
    ).rejects.toMatchObject({ code: 1 });
  });
});
