import { vi } from "vitest";

/** Captures the JSON lines written to the console while `run` executes (restore with vi.restoreAllMocks). */
export async function captureLines(run: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  for (const method of ["log", "warn", "error"] as const) {
    vi.spyOn(console, method).mockImplementation((line: unknown) => void lines.push(String(line)));
  }
  await run();
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}
