import { timestamp } from "drizzle-orm/pg-core";

/** `created_at` / `updated_at` as every table carries them (timestamptz, set by the database). */
export const timestamps = {
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
};
