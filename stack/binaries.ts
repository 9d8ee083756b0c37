import { accessSync, constants } from "node:fs";
import path from "node:path";

/**
 * An executable: the path in the environment variable `override` if set, else the first `name` on
 * PATH or in `extraDirs`; undefined when there is none.
 */
export function findBinary(name: string, options: { override: string; extraDirs: string[] }): string | undefined {
  const forced = process.env[options.override];
  const candidates = forced
    ? [forced]
    : [...(process.env.PATH ?? "").split(path.delimiter), ...options.extraDirs].map((dir) => path.join(dir, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
