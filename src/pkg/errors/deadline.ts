/**
 * A call to a dependency that did not finish within its deadline. The caller abandons the call
 * (aborting or closing what it can) and reports the dependency unavailable: a `DependencyError`
 * with this as its cause, so the API answers 503 with Retry-After and the processor retries.
 */
export class DeadlineExceededError extends Error {
  /** What was called, e.g. `storage`, `postgres`, `clamd`. */
  readonly dependency: string;
  /** The deadline that passed, in milliseconds. */
  readonly timeoutMs: number;
  /** What was abandoned, e.g. `request`, `connect`, `statement`, `commit`. */
  readonly operation: string;

  constructor(dependency: string, timeoutMs: number, operation = "call") {
    super(`${dependency} ${operation} did not finish within ${timeoutMs} ms`);
    this.name = "DeadlineExceededError";
    this.dependency = dependency;
    this.timeoutMs = timeoutMs;
    this.operation = operation;
  }
}

/**
 * Settles as `work` does, or rejects with a `DeadlineExceededError` once `timeoutMs` pass first;
 * then `onExpiry` runs (to abort or close what `work` holds). `work`'s own later rejection is
 * absorbed, so abandoning it never surfaces as an unhandled rejection.
 */
export function withDeadline<T>(
  work: Promise<T>,
  error: DeadlineExceededError,
  onExpiry: (error: DeadlineExceededError) => void = () => {},
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(error);
      onExpiry(error);
    }, error.timeoutMs);
  });
  work.catch(() => {});
  return Promise.race([work, expired]).finally(() => {
    if (timer !== undefined) clearTimeout(timer);
  });
}
