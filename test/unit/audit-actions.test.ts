import { describe, expect, it } from "vitest";
import readme from "../../README.md?raw";
import { AUDIT_ACTION_NAMES } from "../../src/db/schema/audit.ts";

// The README's table of audit actions mirrors the one list in code (AUDIT_ACTIONS), which the
// recording's type and GET /audit's action filter follow.
describe("the audit log's actions", () => {
  it("are named `<object>.<past-tense verb>` in snake case", () => {
    for (const action of AUDIT_ACTION_NAMES) expect(action).toMatch(/^[a-z]+(_[a-z]+)*\.[a-z]+(_[a-z]+)*$/);
  });

  it("are the rows of the README's table, in order", () => {
    const section = readme.slice(readme.indexOf("- **Audit log**"));
    const table = section.slice(0, section.indexOf("\n- **", 1));
    const rows = [...table.matchAll(/^ {2}\| `([a-z_.]+)` +\|/gm)].map((match) => match[1]);
    expect(rows).toEqual(AUDIT_ACTION_NAMES);
  });
});
