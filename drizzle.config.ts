import { defineConfig } from "drizzle-kit";

// `npm run db:generate` diffs the schema against migrations/; `npm run db:migrate` applies them to
// DATABASE_URL (the local stack applies the same files itself on start).
export default defineConfig({
  dialect: "postgresql",
  schema: "./src/db/schema/index.ts",
  out: "./migrations",
  dbCredentials: { url: process.env.DATABASE_URL ?? "" },
  strict: true,
});
