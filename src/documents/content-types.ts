import { parse as parseMediaType } from "content-type";

export const DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

const ALLOWED_TYPE_LIST = [
  "application/pdf",
  DOCX,
  "image/png",
  "image/jpeg",
  "image/gif",
  "image/webp",
  "text/plain",
  "text/markdown",
  "text/html",
  "text/csv",
] as const;

export type AllowedType = (typeof ALLOWED_TYPE_LIST)[number];

/** How an allowed type is recognised: binary by what file-type detects in its first bytes, or text. */
export interface TypeRule {
  kind: "binary" | "text";
  detected: readonly string[];
}

/**
 * What may be uploaded, and how each type is recognised from its first bytes. A `Map`, not an
 * object literal: the type comes from the request, and an object would answer for inherited keys
 * such as `constructor` or `__proto__` (OWASP API8, prototype-key lookups).
 */
export const ALLOWED_TYPES: ReadonlyMap<AllowedType, TypeRule> = new Map<AllowedType, TypeRule>([
  ["application/pdf", { kind: "binary", detected: ["application/pdf"] }],
  [DOCX, { kind: "binary", detected: [DOCX, "application/zip"] }],
  ["image/png", { kind: "binary", detected: ["image/png"] }],
  ["image/jpeg", { kind: "binary", detected: ["image/jpeg"] }],
  ["image/gif", { kind: "binary", detected: ["image/gif"] }],
  ["image/webp", { kind: "binary", detected: ["image/webp"] }],
  // Text has no magic number: it must be UTF-8 without NUL bytes, and not look like anything else.
  ["text/plain", { kind: "text", detected: [] }],
  ["text/markdown", { kind: "text", detected: [] }],
  ["text/html", { kind: "text", detected: [] }],
  ["text/csv", { kind: "text", detected: [] }],
]);

/** The allowed types, in the order documentation lists them. */
export const ALLOWED_TYPE_NAMES: readonly AllowedType[] = ALLOWED_TYPE_LIST;

/** Whether an allowed type is text (checked as UTF-8 to its last byte) or binary. */
export function kindOf(type: AllowedType): TypeRule["kind"] {
  return ruleOf(type).kind;
}

function ruleOf(type: AllowedType): TypeRule {
  const rule = ALLOWED_TYPES.get(type);
  if (!rule) throw new Error(`no rule for ${type}`);
  return rule;
}

/** Bytes `check` needs to see (what file-type reads to decide). */
export const SNIFF_BYTES = 4100;

/** The media type without parameters, lower-case: `Text/Plain; charset=utf-8` → `text/plain`. */
export function essence(contentType: string | undefined): string {
  return parseMediaType(contentType ?? "").type;
}

/** Whether `type` (from a request) is on the allowlist; only its own entries count. */
export function isAllowed(type: string): type is AllowedType {
  return ALLOWED_TYPES.has(type as AllowedType);
}

export type SniffResult = { ok: true; type: AllowedType } | { ok: false; reason: string; status: 415 };

function looksLikeText(head: Uint8Array): boolean {
  if (head.includes(0)) return false;
  try {
    // `stream: true` tolerates a multi-byte character cut at the end of the sample.
    new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(head, { stream: true });
    return true;
  } catch {
    return false;
  }
}

/** Text types by file extension, for a file sent without a usable type (text has no magic number). */
const TEXT_EXTENSIONS: ReadonlyMap<string, AllowedType> = new Map<string, AllowedType>([
  ["txt", "text/plain"],
  ["text", "text/plain"],
  ["log", "text/plain"],
  ["md", "text/markdown"],
  ["markdown", "text/markdown"],
  ["html", "text/html"],
  ["htm", "text/html"],
  ["csv", "text/csv"],
]);

/**
 * The type file-type reads in the first bytes, or undefined. file-type (with strtok3 and `debug`,
 * whose Node build reads `process.stderr` when evaluated) is imported on the first upload, not
 * when the worker starts ("Startup" in the README).
 */
async function sniff(head: Uint8Array) {
  const { fileTypeFromBuffer } = await import("file-type");
  return fileTypeFromBuffer(head).catch(() => undefined);
}

/** Clients send this (or nothing) when they do not know a file's type, e.g. curl for `.md`. */
const UNKNOWN_TYPES = new Set(["", "application/octet-stream"]);

/**
 * The type of a file sent without one: what its first bytes are, if that is allowed; else, for
 * UTF-8 text, what its name's extension says.
 */
async function inferType(head: Uint8Array, filename: string | undefined, textByDefault: boolean): Promise<SniffResult> {
  const detected = await sniff(head);
  if (detected) {
    const mime = detected.mime as string;
    if (isAllowed(mime) && kindOf(mime) === "binary") return { ok: true, type: mime };
    return {
      ok: false,
      status: 415,
      reason: `${mime} is not accepted; allowed: ${ALLOWED_TYPE_NAMES.join(", ")}`,
    };
  }
  const extension = filename?.toLowerCase().match(/\.([a-z0-9]+)$/)?.[1];
  const type = extension ? TEXT_EXTENSIONS.get(extension) : undefined;
  if (type && looksLikeText(head)) return { ok: true, type };
  if (textByDefault && !type && looksLikeText(head)) return { ok: true, type: "text/plain" };
  return { ok: false, status: 415, reason: "the file's type could not be determined; send its Content-Type" };
}

/**
 * Whether the declared type is allowed and agrees with what the first bytes of the file say. A
 * PNG declared as a PDF, an executable declared as text, or a PDF declared as an image are refused.
 * Without a declared type (or `application/octet-stream`), the type is inferred instead: from the
 * bytes, or for text from the file name's extension; with `textByDefault`, UTF-8 text with no
 * known extension is text/plain (RFC 7578 §4.4's default for a form part without Content-Type).
 */
export async function checkContentType(
  declared: string | undefined,
  head: Uint8Array,
  filename?: string,
  options: { textByDefault?: boolean } = {},
): Promise<SniffResult> {
  const type = essence(declared);
  if (UNKNOWN_TYPES.has(type)) return inferType(head, filename, options.textByDefault ?? false);
  if (!isAllowed(type)) {
    return {
      ok: false,
      status: 415,
      reason: `${type} is not accepted; allowed: ${ALLOWED_TYPE_NAMES.join(", ")}`,
    };
  }
  const rule = ruleOf(type);
  const detected = await sniff(head);
  if (rule.kind === "text") {
    if (detected || !looksLikeText(head)) {
      return {
        ok: false,
        status: 415,
        reason: `declared ${type}, but the content is ${detected?.mime ?? "not UTF-8 text"}`,
      };
    }
    return { ok: true, type };
  }
  if (!detected || !rule.detected.includes(detected.mime)) {
    return {
      ok: false,
      status: 415,
      reason: `declared ${type}, but the content is ${detected?.mime ?? "not recognised"}`,
    };
  }
  return { ok: true, type };
}
