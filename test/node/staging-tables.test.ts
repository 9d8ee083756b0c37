import { getTableColumns, getTableName, is } from "drizzle-orm";
import { getTableConfig, PgTable } from "drizzle-orm/pg-core";
import { describe, expect, it } from "vitest";
import {
  checkRefreshTargets,
  checkTargetBucket,
  checkTargetMarker,
  databaseIdentity,
  RefreshRefused,
  STAGING_MARKER,
} from "../../scripts/staging/guard.ts";
import { Pseudonyms } from "../../scripts/staging/pseudonyms.ts";
import { STAGING_TABLES } from "../../scripts/staging/tables.ts";
import * as schema from "../../src/db/schema/index.ts";

// Pure checks (no service), in the node project because the refresh is Node code (node:crypto, pg).
const exported: unknown[] = Object.values(schema);
const tables = exported.filter((value): value is PgTable => is(value, PgTable));

describe("the staging refresh's table map", () => {
  it("classifies every table of src/db/schema, and names no other", () => {
    expect(tables.length).toBeGreaterThan(20);
    expect(Object.keys(STAGING_TABLES).sort()).toEqual(tables.map((table) => getTableName(table)).sort());
  });

  it("classifies every column of every copied table, and no column the schema lacks", () => {
    for (const table of tables) {
      const spec = STAGING_TABLES[getTableName(table)];
      if (spec?.mode !== "copy") continue;
      const columns = Object.values(getTableColumns(table)).map((column) => column.name);
      expect(Object.keys(spec.columns).sort(), getTableName(table)).toEqual(columns.sort());
    }
  });

  it("sets to null only nullable columns, and writes a table after the copied tables it references", () => {
    const order = Object.keys(STAGING_TABLES);
    for (const table of tables) {
      const name = getTableName(table);
      const spec = STAGING_TABLES[name];
      if (spec?.mode !== "copy") continue;
      for (const column of Object.values(getTableColumns(table))) {
        if (spec.columns[column.name]?.kind === "in-sample")
          expect(column.notNull, `${name}.${column.name}`).toBe(false);
      }
      for (const key of getTableConfig(table).foreignKeys) {
        const referenced = getTableName(key.reference().foreignTable);
        if (referenced === name) continue;
        const mode = STAGING_TABLES[referenced]?.mode;
        // A reference into a table left empty would leave nothing to point at.
        expect(mode, `${name} → ${referenced}`).toBe("copy");
        expect(order.indexOf(referenced), `${name} → ${referenced}`).toBeLessThan(order.indexOf(name));
      }
    }
  });
});

describe("the stand-ins", () => {
  it("are the same for the same seed and key, and differ across seeds", () => {
    const a = new Pseudonyms("one");
    const b = new Pseudonyms("two");
    const id = "6f1c1d3e-3c5e-4b8a-9d55-0d1f3a2b4c5d";
    expect(new Pseudonyms("one").email(id)).toBe(a.email(id));
    expect(a.email(id)).toMatch(/^user-[0-9a-f]{12}@example\.invalid$/);
    expect(b.email(id)).not.toBe(a.email(id));
    expect(a.words(300, "text", id, 1).split(" ")).toHaveLength(300);
    expect(a.text("  three  little\nwords ", "x")).toMatch(/^\w+ \w+ \w+$/);
    expect(a.text("", "x")).toBe("");
    expect(a.ip("10.0.0.1", "audit", 1)).toMatch(/^(192\.0\.2|198\.51\.100|203\.0\.113)\.\d+$/);
    expect(a.ip("2a00:1450::1", "audit", 1)).toMatch(/^2001:db8::/);
    expect(a.tag("Finance")).toBe(a.tag("finance"));
  });

  it("make a placeholder that keeps text types and turns any other into text/plain", () => {
    const p = new Pseudonyms("one");
    const md = p.placeholder("d", 2, 10, "text/markdown");
    expect(md).toMatchObject({ key: "documents/d/staging-v2", contentType: "text/markdown", extension: "md" });
    expect(md.sizeBytes).toBe(md.body.byteLength);
    const pdf = p.placeholder("d", 2, 10, "application/pdf");
    expect(pdf).toMatchObject({ contentType: "text/plain", extension: "txt" });
    expect(pdf.body.toString()).toBe(md.body.toString());
  });
});

describe("the refresh's refusals", () => {
  const source = "postgres://app:pw@db.internal:5432/techcorp";
  const target = "postgres://app:pw@staging-db.internal:5432/techcorp_staging";
  const refused = (input: Parameters<typeof checkRefreshTargets>[0]) => () => checkRefreshTargets(input);

  it("needs both URLs and --target-environment staging", () => {
    expect(checkRefreshTargets({ sourceUrl: source, targetUrl: target, targetEnvironment: "staging" }).target).toEqual({
      host: "staging-db.internal",
      port: 5432,
      database: "techcorp_staging",
    });
    expect(refused({ sourceUrl: undefined, targetUrl: target, targetEnvironment: "staging" })).toThrow(RefreshRefused);
    expect(refused({ sourceUrl: source, targetUrl: undefined, targetEnvironment: "staging" })).toThrow(RefreshRefused);
    expect(refused({ sourceUrl: source, targetUrl: target, targetEnvironment: undefined })).toThrow(
      /target-environment/,
    );
    expect(refused({ sourceUrl: source, targetUrl: target, targetEnvironment: "production" })).toThrow(
      /target-environment/,
    );
  });

  it("refuses the source as target, through another spelling of it too", () => {
    expect(refused({ sourceUrl: source, targetUrl: source, targetEnvironment: "staging" })).toThrow(/is the source/);
    expect(
      refused({
        sourceUrl: source,
        targetUrl: "postgresql://other:x@DB.internal/techcorp",
        targetEnvironment: "staging",
      }),
    ).toThrow(/is the source/);
    const neon = "postgres://u:p@ep-cool-1.eu-central-1.aws.neon.tech/neondb";
    const pooled = "postgres://u:p@ep-cool-1-pooler.eu-central-1.aws.neon.tech/neondb";
    expect(refused({ sourceUrl: neon, targetUrl: pooled, targetEnvironment: "staging" })).toThrow(/is the source/);
    expect(databaseIdentity(pooled)).toEqual(databaseIdentity(neon));
  });

  it("refuses production by URL and by name", () => {
    expect(
      refused({ sourceUrl: source, targetUrl: target, targetEnvironment: "staging", productionUrl: target }),
    ).toThrow(/PRODUCTION_DATABASE_URL/);
    for (const url of [
      "postgres://a:b@staging.internal/techcorp_prod",
      "postgres://a:b@prod.db.internal/techcorp",
      "postgres://a:b@db-production.internal/x",
    ]) {
      expect(refused({ sourceUrl: source, targetUrl: url, targetEnvironment: "staging" }), url).toThrow(
        /like production/,
      );
    }
    // A word that merely contains the letters is not a production name.
    expect(
      refused({ sourceUrl: source, targetUrl: "postgres://a:b@h/products_staging", targetEnvironment: "staging" }),
    ).not.toThrow();
    expect(() => checkTargetBucket("techcorp-documents-prod")).toThrow(/like production/);
    expect(() => checkTargetBucket("techcorp-documents", "techcorp-documents")).toThrow(/PRODUCTION_S3_BUCKET/);
    expect(() => checkTargetBucket("techcorp-documents-staging", "techcorp-documents")).not.toThrow();
  });

  it("refuses a target with users that no refresh marked", () => {
    expect(() => checkTargetMarker({ comment: null, users: 0 })).not.toThrow();
    expect(() => checkTargetMarker({ comment: STAGING_MARKER, users: 5 })).not.toThrow();
    expect(() => checkTargetMarker({ comment: null, users: 5 })).toThrow(/never refreshed/);
    expect(() => checkTargetMarker({ comment: "production", users: 5 })).toThrow(RefreshRefused);
  });
});
