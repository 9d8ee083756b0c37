/**
 * Reads the JSON encoding of OTLP's `ExportTraceServiceRequest` (OTLP/HTTP,
 * https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding) into flat spans.
 *
 * The encoding is protobuf's JSON mapping with OTLP's deviations: lowerCamelCase field names only,
 * trace and span ids as hex (not base64), enums as integers (their names are accepted too), 64-bit
 * integers as JSON numbers or decimal strings, fields left out or `null` meaning their default, and
 * fields of unknown name ignored.
 */

/** An attribute's value as plain JSON: OTLP's `AnyValue` without its wrapper. */
export type AttributeValue = string | number | boolean | null | AttributeValue[] | { [key: string]: AttributeValue };

/** Attributes by key; a key given twice keeps its last value. */
export type Attributes = Record<string, AttributeValue>;

export type SpanKindName = "unspecified" | "internal" | "server" | "client" | "producer" | "consumer";
export type StatusCodeName = "unset" | "ok" | "error";

/** One span as the receiver keeps it: its OTLP fields flattened, with its resource's service and its scope. */
export interface ReceivedSpan {
  /** 32 lower-case hex digits. */
  traceId: string;
  /** 16 lower-case hex digits. */
  spanId: string;
  /** 16 lower-case hex digits; null for a root span. */
  parentSpanId: string | null;
  name: string;
  kind: SpanKindName;
  /** Nanoseconds since the Unix epoch, as a decimal string (more than a JSON number holds exactly). */
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  /** End minus start, in milliseconds (fractional: nanosecond resolution). */
  durationMs: number;
  status: { code: StatusCodeName; message: string };
  attributes: Attributes;
  events: { name: string; timeUnixNano: string; attributes: Attributes }[];
  links: { traceId: string; spanId: string; traceState: string; attributes: Attributes }[];
  /** The resource's `service.name`, or `unknown_service` when it has none (as the SDKs default). */
  service: string;
  /** Every attribute of the span's resource (`service.name` included). */
  resource: Attributes;
  /** The instrumentation scope that made it. */
  scope: { name: string; version: string };
}

/** What one request brought: the spans read, and how many could not be read and why. */
export interface DecodedRequest {
  spans: ReceivedSpan[];
  /** Spans refused one by one (a bad id, a missing timestamp, an unreadable attribute). */
  rejected: number;
  /** The first few reasons, each naming where the span was (`resourceSpans[0].scopeSpans[1].spans[2]`). */
  reasons: string[];
}

/** The body is no `ExportTraceServiceRequest` at all: the whole request is refused (400). */
export class InvalidRequestError extends Error {
  override name = "InvalidRequestError";
}

/** One span (or the spans of one resource) cannot be read; the others are kept. */
class UnreadableError extends Error {}

const SPAN_KINDS: readonly SpanKindName[] = ["unspecified", "internal", "server", "client", "producer", "consumer"];
const STATUS_CODES: readonly StatusCodeName[] = ["unset", "ok", "error"];
/** Reasons quoted in a partial success; the count says how many there were in all. */
const MAX_REASONS = 5;
/** Nesting of arrays and key-value lists in one attribute value (a guard for the recursion, not a spec limit). */
const MAX_VALUE_DEPTH = 32;
const UNKNOWN_SERVICE = "unknown_service";
/** The fields of `AnyValue`'s oneof. */
const VALUE_FIELDS = new Set([
  "stringValue",
  "boolValue",
  "intValue",
  "doubleValue",
  "arrayValue",
  "kvlistValue",
  "bytesValue",
]);
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * Reads a parsed JSON body.
 * @throws InvalidRequestError when its structure is not a request's (a list that is not a list, a
 *   message that is not an object); spans that cannot be read are counted in `rejected` instead.
 */
export function decodeTraceRequest(body: unknown): DecodedRequest {
  if (!isObject(body)) throw new InvalidRequestError("the body must be a JSON object (ExportTraceServiceRequest)");
  const decoded: DecodedRequest = { spans: [], rejected: 0, reasons: [] };
  const reject = (count: number, where: string, error: unknown) => {
    if (!(error instanceof UnreadableError)) throw error;
    decoded.rejected += count;
    if (decoded.reasons.length < MAX_REASONS) decoded.reasons.push(`${where}: ${error.message}`);
  };
  for (const [r, resourceSpans] of list(body.resourceSpans, "resourceSpans").entries()) {
    const at = `resourceSpans[${r}]`;
    const resourceMessage = message(resourceSpans, at);
    const scopes = list(resourceMessage.scopeSpans, `${at}.scopeSpans`).map((scopeSpans, s) => {
      const scopeMessage = message(scopeSpans, `${at}.scopeSpans[${s}]`);
      return { scopeMessage, spans: list(scopeMessage.spans, `${at}.scopeSpans[${s}].spans`) };
    });
    let resource: Attributes;
    try {
      resource = attributes(optionalMessage(resourceMessage.resource, "resource").attributes, "resource.attributes");
    } catch (error) {
      reject(
        scopes.reduce((sum, scope) => sum + scope.spans.length, 0),
        at,
        error,
      );
      continue;
    }
    const service = typeof resource["service.name"] === "string" ? resource["service.name"] : UNKNOWN_SERVICE;
    for (const [s, { scopeMessage, spans }] of scopes.entries()) {
      let scope: ReceivedSpan["scope"];
      try {
        const scopeField = optionalMessage(scopeMessage.scope, "scope");
        scope = { name: text(scopeField.name, "scope.name"), version: text(scopeField.version, "scope.version") };
      } catch (error) {
        reject(spans.length, `${at}.scopeSpans[${s}]`, error);
        continue;
      }
      for (const [i, span] of spans.entries()) {
        try {
          decoded.spans.push({ ...decodeSpan(span), service, resource, scope });
        } catch (error) {
          reject(1, `${at}.scopeSpans[${s}].spans[${i}]`, error);
        }
      }
    }
  }
  return decoded;
}

function decodeSpan(value: unknown): Omit<ReceivedSpan, "service" | "resource" | "scope"> {
  if (!isObject(value)) throw new UnreadableError("a span must be a JSON object");
  const start = timestamp(value.startTimeUnixNano, "startTimeUnixNano");
  const end = timestamp(value.endTimeUnixNano, "endTimeUnixNano");
  if (end < start) throw new UnreadableError("endTimeUnixNano is before startTimeUnixNano");
  // Empty is a root; all zeros (the invalid id) is read as none too rather than refusing the span.
  const parent = value.parentSpanId === undefined || value.parentSpanId === null ? "" : value.parentSpanId;
  const status = optionalMessage(value.status, "status");
  return {
    traceId: hexId(value.traceId, 16, "traceId"),
    spanId: hexId(value.spanId, 8, "spanId"),
    parentSpanId: parent === "" || parent === "0000000000000000" ? null : hexId(parent, 8, "parentSpanId"),
    name: text(value.name, "name"),
    kind: enumeration(value.kind, SPAN_KINDS, "SPAN_KIND_", "kind"),
    startTimeUnixNano: start.toString(),
    endTimeUnixNano: end.toString(),
    durationMs: Number(end - start) / 1e6,
    status: {
      code: enumeration(status.code, STATUS_CODES, "STATUS_CODE_", "status.code"),
      message: text(status.message, "status.message"),
    },
    attributes: attributes(value.attributes, "attributes"),
    events: list(value.events, "events", UnreadableError).map((event, i) => {
      const field = message(event, `events[${i}]`, UnreadableError);
      return {
        name: text(field.name, `events[${i}].name`),
        timeUnixNano: timestamp(field.timeUnixNano, `events[${i}].timeUnixNano`).toString(),
        attributes: attributes(field.attributes, `events[${i}].attributes`),
      };
    }),
    links: list(value.links, "links", UnreadableError).map((link, i) => {
      const field = message(link, `links[${i}]`, UnreadableError);
      return {
        traceId: hexId(field.traceId, 16, `links[${i}].traceId`),
        spanId: hexId(field.spanId, 8, `links[${i}].spanId`),
        traceState: text(field.traceState, `links[${i}].traceState`),
        attributes: attributes(field.attributes, `links[${i}].attributes`),
      };
    }),
  };
}

/** A repeated field: absent or null is empty. */
function list(value: unknown, field: string, Failure: new (message: string) => Error = InvalidRequestError): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new Failure(`${field} must be an array`);
  return value;
}

/** An element of a repeated message field. */
function message(value: unknown, field: string, Failure: new (message: string) => Error = InvalidRequestError): Json {
  if (!isObject(value)) throw new Failure(`${field} must be a JSON object`);
  return value;
}

/** A singular message field: absent or null is the empty message. */
function optionalMessage(value: unknown, field: string): Json {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw new UnreadableError(`${field} must be a JSON object`);
  return value;
}

function text(value: unknown, field: string): string {
  if (value === undefined || value === null) return "";
  if (typeof value !== "string") throw new UnreadableError(`${field} must be a string`);
  return value;
}

/** A trace id (16 bytes) or span id (8 bytes) as OTLP/JSON writes it: hex, case-insensitive, not all zeros. */
function hexId(value: unknown, bytes: number, field: string): string {
  if (typeof value !== "string" || value.length !== bytes * 2 || !/^[0-9a-f]+$/i.test(value)) {
    throw new UnreadableError(`${field} must be ${bytes * 2} hex digits`);
  }
  if (/^0+$/.test(value)) throw new UnreadableError(`${field} must not be all zeros`);
  return value.toLowerCase();
}

/** A `fixed64` of nanoseconds since the epoch; 0 (its default) is refused: the field is semantically required. */
function timestamp(value: unknown, field: string): bigint {
  const nanos = integer(value, field, 0n, UINT64_MAX);
  if (nanos === 0n) throw new UnreadableError(`${field} is required`);
  return nanos;
}

/** A 64-bit integer: a JSON number that is an integer, or a decimal string. */
function integer(value: unknown, field: string, min: bigint, max: bigint): bigint {
  if (value === undefined || value === null) return 0n;
  let parsed: bigint | undefined;
  if (typeof value === "number" && Number.isInteger(value)) parsed = BigInt(value);
  else if (typeof value === "string" && /^-?\d+$/.test(value)) parsed = BigInt(value);
  if (parsed === undefined || parsed < min || parsed > max) {
    throw new UnreadableError(`${field} must be an integer from ${min} to ${max} (a number or a decimal string)`);
  }
  return parsed;
}

/** An enum field: its integer value (what OTLP/JSON requires) or its name (what protobuf's JSON mapping also reads). */
function enumeration<T extends string>(value: unknown, names: readonly T[], prefix: string, field: string): T {
  if (value === undefined || value === null) return names[0] as T;
  const index =
    typeof value === "number"
      ? value
      : typeof value === "string"
        ? names.findIndex((name) => `${prefix}${name.toUpperCase()}` === value)
        : -1;
  const name = names[index];
  if (name === undefined) throw new UnreadableError(`${field} must be one of 0–${names.length - 1}`);
  return name;
}

/** A list of `KeyValue`s as an object (built with `Object.fromEntries`: a key `__proto__` stays a plain key). */
function attributes(value: unknown, field: string, depth = 0): Attributes {
  return Object.fromEntries(
    list(value, field, UnreadableError).map((entry, i) => {
      const keyValue = message(entry, `${field}[${i}]`, UnreadableError);
      return [text(keyValue.key, `${field}[${i}].key`), anyValue(keyValue.value, `${field}[${i}].value`, depth)];
    }),
  );
}

/**
 * An `AnyValue` as plain JSON: a string, boolean, number, array, object, or null for an empty
 * value. An int64 outside ±2^53 stays a decimal string, as do the doubles JSON cannot hold
 * ("NaN", "Infinity", "-Infinity"); bytes stay in base64.
 */
function anyValue(value: unknown, field: string, depth: number): AttributeValue {
  if (value === undefined || value === null) return null;
  if (!isObject(value)) throw new UnreadableError(`${field} must be a JSON object (AnyValue)`);
  if (depth >= MAX_VALUE_DEPTH) throw new UnreadableError(`${field} is nested more than ${MAX_VALUE_DEPTH} deep`);
  const set = Object.entries(value).filter(
    ([key, inner]) => inner !== null && inner !== undefined && VALUE_FIELDS.has(key),
  );
  if (set.length > 1) throw new UnreadableError(`${field} sets more than one of ${[...VALUE_FIELDS].join(", ")}`);
  const [kind, inner] = set[0] ?? [];
  switch (kind) {
    case undefined:
      return null;
    case "stringValue":
      if (typeof inner !== "string") throw new UnreadableError(`${field}.stringValue must be a string`);
      return inner;
    case "boolValue":
      if (typeof inner !== "boolean") throw new UnreadableError(`${field}.boolValue must be true or false`);
      return inner;
    case "intValue": {
      const parsed = integer(inner, `${field}.intValue`, INT64_MIN, INT64_MAX);
      const asNumber = Number(parsed);
      return Number.isSafeInteger(asNumber) ? asNumber : parsed.toString();
    }
    case "doubleValue": {
      if (typeof inner === "number") return inner;
      if (inner === "NaN" || inner === "Infinity" || inner === "-Infinity") return inner;
      const parsed = typeof inner === "string" && inner.trim() !== "" ? Number(inner) : Number.NaN;
      if (Number.isNaN(parsed)) throw new UnreadableError(`${field}.doubleValue must be a number`);
      return parsed;
    }
    case "bytesValue":
      if (typeof inner !== "string" || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(inner)) {
        throw new UnreadableError(`${field}.bytesValue must be base64`);
      }
      return inner;
    case "arrayValue":
      return list(
        optionalMessage(inner, `${field}.arrayValue`).values,
        `${field}.arrayValue.values`,
        UnreadableError,
      ).map((element, i) => anyValue(element, `${field}.arrayValue.values[${i}]`, depth + 1));
    case "kvlistValue":
      return attributes(
        optionalMessage(inner, `${field}.kvlistValue`).values,
        `${field}.kvlistValue.values`,
        depth + 1,
      );
    default:
      throw new UnreadableError(`${field} has an unknown kind ${kind}`);
  }
}
