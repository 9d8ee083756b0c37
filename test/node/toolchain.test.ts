import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

interface LockedPackage {
  version?: string;
  os?: string | string[];
  cpu?: string | string[];
  optional?: boolean;
  bin?: Record<string, string>;
}

const readJson = <T>(file: string) => JSON.parse(readFileSync(new URL(`../../${file}`, import.meta.url), "utf8")) as T;
const manifest = readJson<{ optionalDependencies?: Record<string, string>; engines?: { node?: string } }>(
  "package.json",
);
const lock = readJson<{ packages: Record<string, LockedPackage> }>("package-lock.json");

/** The oldest Node that runs the stack's TypeScript without flags (type stripping on by default). */
const TYPESCRIPT_NODE = [22, 18, 0];
/** Where `npm run dev` and `npm test` are expected to work with only an older Node running npm. */
const PLATFORMS = [
  ["linux", "x64"],
  ["linux", "arm64"],
  ["darwin", "x64"],
  ["darwin", "arm64"],
] as const;

const listed = (field: string | string[] | undefined) => (field === undefined ? [] : [field].flat());
const atLeast = (version: string, minimum: readonly number[]) => {
  const parts = version.split(".").map(Number);
  const index = minimum.findIndex((part, i) => (parts[i] ?? 0) !== part);
  return index === -1 || (parts[index] ?? 0) > (minimum[index] ?? 0);
};

describe("the Node the npm scripts run", () => {
  it.each(PLATFORMS)("is installed by npm ci on %s %s: a pinned node binary package, new enough", (os, cpu) => {
    const candidates = Object.entries(lock.packages).filter(
      ([, entry]) => entry.bin?.node !== undefined && listed(entry.os).includes(os) && listed(entry.cpu).includes(cpu),
    );
    expect(candidates).toHaveLength(1);
    const [location = "", entry = {}] = candidates[0] ?? [];
    const name = location.replace(/^node_modules\//, "");
    // Optional, so npm ci on another platform skips it instead of failing; pinned, so it is this one.
    expect(entry.optional).toBe(true);
    expect(manifest.optionalDependencies?.[name]).toBe(entry.version);
    expect(atLeast(entry.version ?? "0", TYPESCRIPT_NODE), `${name}@${entry.version}`).toBe(true);
  });
});
