import type { ChildProcess } from "node:child_process";

/**
 * Sends SIGTERM unless the process has already ended, and resolves once it has exited. A frozen
 * process (SIGSTOP, see `freeze`) is let go on first, or it would never handle the signal.
 */
export async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGCONT");
  child.kill("SIGTERM");
  await exited;
}

/**
 * Freezes a process (SIGSTOP): its sockets stay open and the kernel still accepts connections to
 * it, but nothing answers — a hung server, which only a client-side deadline gets past.
 */
export function freeze(child: ChildProcess | undefined): void {
  child?.kill("SIGSTOP");
}

/** Lets a frozen process go on (SIGCONT). */
export function thaw(child: ChildProcess | undefined): void {
  child?.kill("SIGCONT");
}
