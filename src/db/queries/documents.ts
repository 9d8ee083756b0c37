import { and, eq, inArray, sql } from "drizzle-orm";
import type { Database } from "../client.ts";
import { type Document, type DocumentStatus, documents, type NewDocument } from "../schema/documents.ts";

export async function insertDocument(db: Database, values: NewDocument): Promise<Document> {
  const [row] = await db.insert(documents).values(values).returning();
  if (!row) throw new Error("insert returned no row");
  return row;
}

export async function getDocument(db: Database, params: { id: string }): Promise<Document | undefined> {
  const [row] = await db.select().from(documents).where(eq(documents.id, params.id)).limit(1);
  return row;
}

/**
 * Moves a document to `to` only from one of `from`, so a redelivered message cannot move it
 * backwards or redo work. Returns the updated row, or undefined when the transition did not apply.
 */
export async function transitionDocument(
  db: Database,
  params: {
    id: string;
    from: readonly DocumentStatus[];
    to: DocumentStatus;
    failureReason?: string;
  },
): Promise<Document | undefined> {
  const [row] = await db
    .update(documents)
    .set({
      status: params.to,
      failureReason: params.failureReason ?? null,
      updatedAt: sql`now()`,
      ...(params.to === "ready" ? { processedAt: sql`now()` } : {}),
    })
    .where(and(eq(documents.id, params.id), inArray(documents.status, [...params.from])))
    .returning();
  return row;
}
