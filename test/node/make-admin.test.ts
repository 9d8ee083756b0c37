import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type pg from "pg";
import { describe, expect, inject, it } from "vitest";
import { asSystemSession } from "../../scripts/system-session.ts";

const run = promisify(execFile);

const withSystem = <T>(work: (client: pg.Client) => Promise<T>) =>
  asSystemSession(inject("stack").DATABASE_URL_UNPOOLED ?? "", work);

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
