import type { LogLevel } from "../config/config.ts";

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Keys whose values never reach a log line, at any depth. */
const SENSITIVE = /pass(word)?|secret|token|authorization|cookie|api[-_]?key|credential|signature/i;

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Fields of one log line, merged into its JSON object (errors flattened, secrets redacted: see `redact`). */
export type LogFields = Record<string, unknown>;

/**
 * Structured logging, one JSON object per line: `level`, `time` (ISO 8601 UTC), `message`, then
 * the fields. Lines below the configured level are dropped.
 */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (e.g. the request id). */
  with(fields: LogFields): Logger;
}

/**
 * Replaces the values of sensitive keys (password, secret, token, authorization, cookie, API key,
 * credential, signature: case-insensitive, at any depth) with `"[redacted]"` and flattens errors to
 * `{ name, message, stack, cause }`, so nothing secret is written (OWASP Logging Cheat Sheet, "Data
 * to exclude"). Objects deeper than 6 levels become `"[truncated]"`; other class instances are
 * reduced to `{ kind, type, message }`.
 */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6) return "[truncated]";
  if (value instanceof Error) {
    return {
      name: value.name,
      message: value.message,
      stack: value.stack,
      ...(value.cause === undefined ? {} : { cause: redact(value.cause, depth + 1) }),
    };
  }
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  if (value && typeof value === "object" && !isPlainObject(value)) {
    // e.g. a WebSocket ErrorEvent thrown by a driver: keep what identifies it.
    const { type, message } = value as { type?: unknown; message?: unknown };
    return {
      kind: value.constructor?.name ?? "object",
      type,
      message: message === undefined ? String(value) : message,
    };
  }
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, SENSITIVE.test(key) ? "[redacted]" : redact(item, depth + 1)]),
    );
  }
  return value;
}

/**
 * Structured JSON logs, one object per line (Workers Logs and Logpush index the fields): `error`
 * lines go to `console.error`, `warn` to `console.warn`, the rest to `console.log`.
 */
export function createLogger(options: { level: LogLevel; fields?: LogFields }): Logger {
  const threshold = LEVELS[options.level];
  const base = options.fields ?? {};

  const write = (level: LogLevel, message: string, fields: LogFields = {}) => {
    if (LEVELS[level] < threshold) return;
    const line = JSON.stringify({
      level,
      time: new Date().toISOString(),
      message,
      ...(redact({ ...base, ...fields }) as LogFields),
    });
    if (level === "error") console.error(line);
    else if (level === "warn") console.warn(line);
    else console.log(line);
  };

  return {
    debug: (message, fields) => write("debug", message, fields),
    info: (message, fields) => write("info", message, fields),
    warn: (message, fields) => write("warn", message, fields),
    error: (message, fields) => write("error", message, fields),
    with: (fields) => createLogger({ level: options.level, fields: { ...base, ...fields } }),
  };
}
