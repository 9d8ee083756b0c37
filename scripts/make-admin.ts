// `npm run users:make-admin -- <email>`: gives an existing account the admin role. This is how the
// first administrator is made (later ones are promoted through PUT /users/{id}/role). It talks to
// DATABASE_URL directly, acting as the system for row-level security; the new role applies from
// the user's next login.
import pg from "pg";

const email = process.argv[2]?.toLowerCase();
const url = process.env.DATABASE_URL;
if (!email || !url) {
  console.error("usage: DATABASE_URL=postgres://… npm run users:make-admin -- <email>");
  process.exit(2);
}

const client = new pg.Client({ connectionString: url });
await client.connect();
try {
  await client.query("begin");
  await client.query("select set_config('app.role', 'system', true)");
  const result = await client.query<{ id: string }>(
    "update users set role = 'admin', updated_at = now() where email = $1 returning id",
    [email],
  );
  await client.query("commit");
  if (result.rowCount === 0) {
    console.error(`no user with email ${email}`);
    process.exitCode = 1;
  } else {
    console.log(`${email} (${result.rows[0]?.id}) is now an admin; it applies from their next login.`);
  }
} finally {
  await client.end();
}
