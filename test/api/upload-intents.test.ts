import { like, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import repair from "../../migrations/0009_upload_intents_recorded.sql?raw";
import { uploadIntents } from "../../src/db/schema/documents.ts";
import { signedIn, signedInAdmin } from "../auth-helpers.ts";
import { created, formUpload, keysIn, processed, rawUpload } from "../document-helpers.ts";
import { api, asSystem, testEnv } from "../helpers.ts";

const stackEnv = testEnv as unknown as Record<string, string>;

/** Upload intents still recorded for a document's objects (each one is a key the sweeper would delete). */
const intentsOf = (documentId: string) =>
  asSystem((tx) =>
    tx
      .select({ key: uploadIntents.storageKey })
      .from(uploadIntents)
      .where(like(uploadIntents.storageKey, `documents/${documentId}/%`)),
  );

// An upload's transaction ends its intent while acting as the uploader. Row-level security once
// let only admins and the system do that, so a normal user's intent stayed, silently, and the
// sweeper deleted the live object a day later. Every upload path, as a normal user.
describe("upload intents end with the upload, whoever uploads", () => {
  it("a normal user's upload, new version and a write-share holder's version leave none", async () => {
    const owner = await signedIn();
    const editor = await signedIn();
    const doc = await created(formUpload(owner.auth, { bytes: "first", type: "text/plain", name: "a.txt" }));
    expect(await intentsOf(doc.id)).toEqual([]);

    await created(rawUpload(owner.auth, "second", "text/plain", { path: `/documents/${doc.id}/versions` }));
    expect(await intentsOf(doc.id)).toEqual([]);

    const shared = await api(`/documents/${doc.id}/shares`, {
      method: "PUT",
      headers: { ...owner.auth, "content-type": "application/json" },
      body: JSON.stringify({ user: editor.user.username, access: "write" }),
    });
    expect(shared.status).toBe(200);
    await created(
      formUpload(
        editor.auth,
        { bytes: "third", type: "text/plain", name: "c.txt" },
        {},
        `/documents/${doc.id}/versions`,
      ),
    );
    expect(await intentsOf(doc.id)).toEqual([]);

    // Three objects, all recorded by versions, all still there after processing.
    expect(await processed(owner.auth, doc.id)).toMatchObject({ status: "ready", currentVersion: 3 });
    expect(await keysIn(stackEnv, `documents/${doc.id}/`)).toHaveLength(3);
    expect(await intentsOf(doc.id)).toEqual([]);
  });

  it("an admin's upload leaves none either", async () => {
    const admin = await signedInAdmin();
    const doc = await created(rawUpload(admin.auth, "by an admin", "text/plain"));
    expect(await intentsOf(doc.id)).toEqual([]);
  });
});

describe("migration 0009 repairs what the bug left", () => {
  it("removes intents whose key a version records, and keeps the others", async () => {
    const { auth } = await signedIn();
    const doc = await created(rawUpload(auth, "uploaded before the fix", "text/plain"));
    const [key] = await keysIn(stackEnv, `documents/${doc.id}/`);
    if (!key) throw new Error("no object stored");
    const orphan = `documents/${doc.id}/${crypto.randomUUID()}`;
    // What the bug left: the finished upload's intent, beside a real orphan's.
    await asSystem((tx) => tx.insert(uploadIntents).values([{ storageKey: key }, { storageKey: orphan }]));

    const statements = repair.split("--> statement-breakpoint").map((statement) => statement.trim());
    await asSystem(async (tx) => {
      for (const statement of statements.filter((s) => /^(--[^\n]*\n)*\s*(SELECT|DELETE)/i.test(s))) {
        await tx.execute(sql.raw(statement));
      }
    });
    expect((await intentsOf(doc.id)).map((row) => row.key)).toEqual([orphan]);
  });
});
