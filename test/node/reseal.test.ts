import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { promisify } from "node:util";
import type pg from "pg";
import { describe, expect, inject, it } from "vitest";
import { asSystemSession } from "../../scripts/system-session.ts";
import { createSecretBox, keyId, sealedKeyId } from "../../src/pkg/crypto/secret-box.ts";

const run = promisify(execFile);

const asSystem = <T>(work: (client: pg.Client) => Promise<T>) =>
  asSystemSession(inject("stack").DATABASE_URL_UNPOOLED ?? "", work);

const reseal = (previous: string) =>
  run(process.execPath, ["scripts/reseal.ts", "--batch-size", "2"], {
    env: {
      ...process.env,
      DATABASE_URL: inject("stack").DATABASE_URL_UNPOOLED,
      DATA_ENCRYPTION_KEY: inject("stack").DATA_ENCRYPTION_KEY,
      DATA_ENCRYPTION_KEY_PREVIOUS: previous,
    },
  });

describe("npm run secrets:reseal", () => {
  it("re-seals, in batches, the webhook secrets a previous key sealed, and leaves them alone the second time", async () => {
    const [oldKey, current] = [randomBytes(32).toString("base64"), inject("stack").DATA_ENCRYPTION_KEY ?? ""];
    const oldBox = await createSecretBox(oldKey, "webhook-secret");
    const name = `reseal-${randomUUID().slice(0, 8)}`;
    const secrets = ["whsec_one", "whsec_two", "whsec_three"];
    const ids = await asSystem(async (client) => {
      const user = await client.query<{ id: string }>(
        "insert into users (email, username, password_hash) values ($1, $2, '!') returning id",
        [`${name}@example.com`, name],
      );
      const ids: string[] = [];
      for (const [index, secret] of secrets.entries()) {
        const sealed = await oldBox.seal(secret);
        // The first as a release before key ids sealed it.
        const stored = index === 0 ? sealed.split(".").slice(0, 3).join(".") : sealed;
        const row = await client.query<{ id: string }>(
          "insert into webhooks (user_id, url, secret_ciphertext) values ($1, $2, $3) returning id",
          [user.rows[0]?.id, `https://example.com/${name}/${index}`, stored],
        );
        ids.push(row.rows[0]?.id ?? "");
      }
      return ids;
    });
    const stored = () =>
      asSystem(async (client) =>
        (
          await client.query<{ id: string; sealed: string }>(
            "select id, secret_ciphertext as sealed from webhooks where id = any($1) order by url",
            [ids],
          )
        ).rows.map((row) => row.sealed),
      );

    const first = await reseal(` ${oldKey} `);
    expect(first.stdout).toMatch(/^webhooks\.secret_ciphertext: [1-9]\d* re-sealed, \d+ no configured key opens$/m);
    const after = await stored();
    const currentBox = await createSecretBox(current, "webhook-secret");
    expect(after.map(sealedKeyId)).toEqual(secrets.map(() => expect.any(String)));
    for (const sealed of after) expect(sealedKeyId(sealed)).toBe(await keyId(current));
    expect(await Promise.all(after.map((sealed) => currentBox.open(sealed)))).toEqual(secrets);

    // Idempotent: nothing of these is re-sealed again (a new IV would change every value).
    await reseal(oldKey);
    expect(await stored()).toEqual(after);
  });

  it("refuses a key that does not decode, in one line, before reading anything (exit 2)", async () => {
    const refused = await run(process.execPath, ["scripts/reseal.ts"], {
      env: { ...process.env, DATABASE_URL: "postgres://nobody@127.0.0.1:1/none", DATA_ENCRYPTION_KEY: "short" },
    }).then(
      () => ({ code: 0, stderr: "" }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^DATA_ENCRYPTION_KEY is not a data encryption key: .+\nusage: /);
  });

  it("reports, and exits 1 for, a value no configured key opens, and re-seals the rest", async () => {
    const stranger = await createSecretBox(randomBytes(32).toString("base64"), "webhook-secret");
    const name = `reseal-lost-${randomUUID().slice(0, 8)}`;
    const id = await asSystem(async (client) => {
      const user = await client.query<{ id: string }>(
        "insert into users (email, username, password_hash) values ($1, $2, '!') returning id",
        [`${name}@example.com`, name],
      );
      const row = await client.query<{ id: string }>(
        "insert into webhooks (user_id, url, secret_ciphertext) values ($1, $2, $3) returning id",
        [user.rows[0]?.id, `https://example.com/${name}`, await stranger.seal("whsec_lost")],
      );
      return row.rows[0]?.id ?? "";
    });
    try {
      const failed = await reseal("").catch((error: { code: number; stdout: string }) => error);
      expect(failed).toMatchObject({ code: 1 });
      expect("stdout" in failed ? failed.stdout : "").toContain(id);
    } finally {
      await asSystem((client) => client.query("delete from webhooks where id = $1", [id]));
    }
  });
});
