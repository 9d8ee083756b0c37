import { sql } from "drizzle-orm";
import { timestamp } from "drizzle-orm/pg-core";

/** `created_at` / `updated_at` as every table carries them (timestamptz, set by the database). */
export const timestamps = {
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
};

/**
 * The time a change is made, for `updated_at`: the statement's clock, not the transaction's start
 * (`now()`). A writer that waited for a row's lock must not date its change before the change it
 * waited for, or `Last-Modified` would go back in time and an If-Unmodified-Since taken in
 * between would let a later write through (RFC 9110 §13.1.4).
 */
export const changedAt = sql`clock_timestamp()`;
