import { Validator, type Schema as ValidatorSchema } from "@cfworker/json-schema";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { login, randomIp, register, signedIn, signedInAdmin } from "../auth-helpers.ts";
import { api, testEnv } from "../helpers.ts";

/**
 * Property-based requests generated from the worker's own `/openapi.json`: for every operation,
 * requests the document calls valid and requests it calls invalid. Whatever comes back must be
 * documented: no 5xx, a status the operation lists, a body of a documented media type that
 * matches its schema (problems against the problem schema). A request valid by the document must
 * not be refused as invalid (400), except by the rules that span parameters and state, listed in
 * SEMANTIC_400 with their reason; an invalid one must be refused (4xx).
 *
 * The run is fixed: SEED, and RUNS valid and RUNS invalid requests per operation, each operation
 * seeded from SEED and its own name. A failure names the operation, both seeds and the request
 * sent; every operation's failure is collected before the test fails, so one run shows them all.
 */
const SEED = 20_261_130;
const RUNS = 10;

/** A JSON Schema (2020-12, as OpenAPI 3.1 embeds it), read loosely: only what the generators use. */
interface Schema {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: Schema | boolean;
  propertyNames?: Schema;
  minProperties?: number;
  maxProperties?: number;
  oneOf?: Schema[];
  anyOf?: Schema[];
  allOf?: Schema[];
}

interface Parameter {
  name: string;
  in: "path" | "query" | "header" | "cookie";
  required?: boolean;
  schema: Schema;
}

interface MediaType {
  schema?: Schema;
}

interface Operation {
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, MediaType> };
  responses: Record<string, { content?: Record<string, MediaType> }>;
  security?: unknown[];
}

interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

/** One generated request, before it is sent. */
interface Draft {
  path: Record<string, string>;
  query: [string, string][];
  body?: { type: string; payload: BodyInit; shown: string; offDocument?: boolean } | undefined;
  as: "user" | "admin" | "fresh";
  /** An invalid draft whose mutation turned out valid after all (skipped). */
  stillValid?: boolean;
}

const BODY_PREVIEW = 300;
/** A JSON body cut short. */
const MALFORMED = '{"';

let doc: OpenApiDocument;
const validators = new Map<Schema, Validator>();

/** Validates against a schema of the document, its `$ref`s resolved in the document's components. */
function validates(schema: Schema, value: unknown): { valid: boolean; errors: string } {
  let validator = validators.get(schema);
  if (!validator) {
    // The components ride along under the root, so `#/components/schemas/…` resolves as in the document.
    const root = structuredClone({ ...schema, components: doc.components }) as ValidatorSchema;
    validator = new Validator(root, "2020-12", false);
    validators.set(schema, validator);
  }
  const result = validator.validate(value);
  return {
    valid: result.valid,
    errors: result.errors.map((e) => `${e.instanceLocation}: ${e.error}`).join("; "),
  };
}

function resolve(schema: Schema): Schema {
  if (!schema.$ref) return schema;
  const name = schema.$ref.replace("#/components/schemas/", "");
  const target = doc.components.schemas[name];
  if (!target) throw new Error(`unresolvable $ref ${schema.$ref}`);
  return resolve(target);
}

/**
 * An alternative of a oneOf / anyOf with the keywords beside it (`properties`, `required`, …), so
 * that `{ properties: {a, b}, oneOf: [{ required: [a] }, { required: [b] }] }` generates objects.
 */
function withBase(schema: Schema, alternative: Schema): Schema {
  const { oneOf: _oneOf, anyOf: _anyOf, ...base } = schema;
  if (Object.keys(base).length === 0) return alternative;
  const branch = resolve(alternative);
  return {
    ...base,
    ...branch,
    properties: { ...base.properties, ...branch.properties },
    required: [...(base.required ?? []), ...(branch.required ?? [])],
  };
}

function typesOf(schema: Schema): string[] {
  if (Array.isArray(schema.type)) return schema.type;
  if (schema.type) return [schema.type];
  if (schema.properties) return ["object"];
  return [];
}

// ---------------------------------------------------------------------------------------------
// Valid values: a generator per JSON Schema keyword the document uses.

/**
 * Text units of one UTF-16 code unit each (printable ASCII, BMP letters, spaces, U+0000 and a lone
 * surrogate), so that a string's length is the same counted in code points (JSON Schema) or code
 * units (zod).
 */
const textUnit = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.constantFrom("é", "ß", "Ж", "中", "ı", " ", "\u00a0", "\t") },
  // What Postgres text cannot hold: where the document allows it, the API must take it.
  { weight: 1, arbitrary: fc.constantFrom("\u0000", "\ud800") },
);

function stringArbitrary(schema: Schema): fc.Arbitrary<string> {
  const min = schema.minLength ?? 0;
  const max = schema.maxLength ?? Math.max(min, 64);
  const fits = (value: string) => value.length >= min && value.length <= max;
  switch (schema.format) {
    case "uuid":
      return fc.uuid();
    case "date-time":
      return fc
        .date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59Z"), noInvalidDate: true })
        .map((date) => date.toISOString());
    case "email":
      return fc
        .tuple(fc.stringMatching(/^[a-z0-9]{1,20}$/), fc.stringMatching(/^[a-z0-9]{1,20}\.[a-z]{2,6}$/))
        .map(([local, domain]) => `${local}@${domain}`)
        .filter((value) => fits(value) && matchesPattern(schema, value));
    case "uri":
      return fc
        .webUrl({ validSchemes: ["https", "http"], withQueryParameters: true, withFragments: true })
        .filter((value) => fits(value) && matchesPattern(schema, value));
  }
  if (schema.pattern) {
    const pattern = new RegExp(schema.pattern, "u");
    // Our own text where most of it matches (a pattern that only excludes a few characters), so
    // text fields keep their edges; fast-check's generator from the regex for the others.
    const matching = fc.sample(plainText(min, max), { numRuns: 50, seed: 1 }).filter((value) => pattern.test(value));
    if (matching.length >= 25) return plainText(min, max).filter((value) => pattern.test(value));
    return fc.stringMatching(pattern).filter(fits);
  }
  return plainText(min, max);
}

function plainText(min: number, max: number): fc.Arbitrary<string> {
  const short = fc.string({ unit: textUnit, minLength: min, maxLength: Math.min(max, min + 30) });
  // The edges: as long as allowed, and only white space (which a trim-then-check would refuse).
  const edges: fc.Arbitrary<string>[] = [];
  if (max > min + 30) edges.push(fc.string({ unit: textUnit, minLength: max, maxLength: max }));
  if (min <= 3) {
    edges.push(fc.string({ unit: fc.constantFrom(" ", "\t", "\u00a0"), minLength: min, maxLength: Math.min(max, 3) }));
  }
  return fc.oneof({ weight: 6, arbitrary: short }, ...edges.map((arbitrary) => ({ weight: 1, arbitrary })));
}

function matchesPattern(schema: Schema, value: string): boolean {
  return schema.pattern === undefined || new RegExp(schema.pattern, "u").test(value);
}

function numberBounds(schema: Schema, integer: boolean): { min: number; max: number } {
  const step = integer ? 1 : Number.EPSILON;
  const min = schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + step : undefined);
  const max = schema.maximum ?? (schema.exclusiveMaximum !== undefined ? schema.exclusiveMaximum - step : undefined);
  return { min: min ?? Number.MIN_SAFE_INTEGER, max: max ?? Number.MAX_SAFE_INTEGER };
}

function valueArbitrary(input: Schema, depth = 0): fc.Arbitrary<unknown> {
  const schema = resolve(input);
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const alternatives = schema.oneOf ?? schema.anyOf;
  if (alternatives) return fc.oneof(...alternatives.map((s) => valueArbitrary(withBase(schema, s), depth)));
  if (schema.allOf) throw new Error("allOf in a request schema: not generated");
  const types = typesOf(schema);
  if (types.length === 0) return depth > 2 ? fc.constant(null) : fc.jsonValue({ maxDepth: 2 });
  return fc.oneof(...types.map((type) => typedArbitrary(schema, type, depth)));
}

function typedArbitrary(schema: Schema, type: string, depth: number): fc.Arbitrary<unknown> {
  switch (type) {
    case "null":
      return fc.constant(null);
    case "boolean":
      return fc.boolean();
    case "integer": {
      const { min, max } = numberBounds(schema, true);
      return fc.oneof(fc.integer({ min, max }), fc.constantFrom(min, max));
    }
    case "number": {
      const { min, max } = numberBounds(schema, false);
      return fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
    }
    case "string":
      return stringArbitrary(schema);
    case "array":
      return fc.array(schema.items ? valueArbitrary(schema.items, depth + 1) : fc.jsonValue({ maxDepth: 1 }), {
        minLength: schema.minItems ?? 0,
        maxLength: Math.min(schema.maxItems ?? 4, 4),
      });
    case "object":
      return objectArbitrary(schema, depth);
    default:
      throw new Error(`type ${type}: not generated`);
  }
}

function objectArbitrary(schema: Schema, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const properties = schema.properties ?? {};
  const required = schema.required ?? [];
  const known = fc.record(
    Object.fromEntries(Object.entries(properties).map(([key, s]) => [key, valueArbitrary(s, depth + 1)])),
    { requiredKeys: required.filter((key) => key in properties) },
  );
  const extra = schema.additionalProperties;
  const withExtra =
    extra === undefined || extra === false || Object.keys(properties).length > 0
      ? known
      : fc
          .tuple(
            known,
            fc.dictionary(
              schema.propertyNames ? stringArbitrary(resolve(schema.propertyNames)) : fc.string({ maxLength: 20 }),
              extra === true ? fc.jsonValue({ maxDepth: 2 }) : valueArbitrary(extra, depth + 1),
              { maxKeys: 4 },
            ),
          )
          .map(([a, b]) => ({ ...b, ...a }));
  return withExtra.filter((value) => {
    const count = Object.keys(value).length;
    return count >= (schema.minProperties ?? 0) && count <= (schema.maxProperties ?? Number.POSITIVE_INFINITY);
  });
}

// ---------------------------------------------------------------------------------------------
// Invalid values: one definite violation of the schema, checked against the schema itself.

function invalidArbitrary(input: Schema): fc.Arbitrary<unknown> | undefined {
  const schema = resolve(input);
  const options: fc.Arbitrary<unknown>[] = invalidScalars(schema).map((value) => fc.constant(value));
  const types = typesOf(schema);
  if (types.includes("object") || schema.properties) {
    const properties = schema.properties ?? {};
    for (const key of schema.required ?? []) {
      options.push(objectArbitrary(schema, 0).map((value) => withoutKey(value, key)));
    }
    if (schema.additionalProperties === false) {
      options.push(objectArbitrary(schema, 0).map((value) => ({ ...value, unknownMember: 1 })));
    }
    for (const [key, property] of Object.entries(properties)) {
      const bad = invalidArbitrary(property);
      if (bad) options.push(fc.tuple(objectArbitrary(schema, 0), bad).map(([value, v]) => ({ ...value, [key]: v })));
    }
    if (schema.minProperties) options.push(fc.constant({}));
    options.push(fc.constantFrom([], "text", null));
  }
  if (types.includes("array") && schema.items) {
    const bad = invalidArbitrary(schema.items);
    if (bad) options.push(bad.map((v) => [v]));
  }
  for (const alternative of schema.oneOf ?? schema.anyOf ?? []) {
    const bad = invalidArbitrary(alternative);
    if (bad) options.push(bad);
  }
  return options.length > 0 ? fc.oneof(...options) : undefined;
}

/** Values that break one keyword of a schema, when it has that keyword (may still be valid: check). */
function invalidScalars(schema: Schema): unknown[] {
  const types = typesOf(schema);
  const values: unknown[] = [];
  if (schema.enum) values.push("not-in-the-enum", 0);
  if (types.length > 0 && !types.includes("string")) values.push("not-a-value-of-this-type");
  if (types.length > 0 && !types.includes("object") && !types.includes("string")) values.push({});
  if (types.includes("string") && !types.includes("integer") && !types.includes("number")) values.push(12345);
  if (schema.maxLength !== undefined) values.push("a".repeat(schema.maxLength + 1));
  if (schema.minLength !== undefined && schema.minLength > 0) values.push("");
  if (schema.format === "uuid") values.push("not-a-uuid", "123", "00000000-0000-0000-0000");
  if (schema.format === "date-time") values.push("yesterday", "2026-13-01T00:00:00Z", "2026-01-01");
  if (schema.format === "email") values.push("not-an-email", "a@", "@example.com");
  if (schema.format === "uri") values.push("not a url", "//example.com");
  if (schema.pattern) values.push("!!", " ", "\u00e9\u00e9\u00e9 \u00e9\u00e9", "a\u0000b", "a\ud800b");
  if (types.includes("integer")) values.push(1.5, Number.MAX_SAFE_INTEGER * 4);
  if (types.includes("integer") || types.includes("number")) {
    const { min, max } = numberBounds(schema, types.includes("integer"));
    if (min > Number.MIN_SAFE_INTEGER) values.push(min - 1);
    if (max < Number.MAX_SAFE_INTEGER) values.push(max + 1);
  }
  return values;
}

/** Texts a path or query parameter must refuse: each breaks its schema as the parameter is read. */
function invalidTexts(parameter: Parameter): string[] {
  const schema = resolve(parameter.schema);
  const texts = invalidScalars(schema).map(serialise);
  if (typesOf(schema).includes("integer")) texts.push("abc", "1e3x", "99999999999999999999999");
  // A URL carries UTF-8: a lone surrogate cannot travel in one (it arrives as U+FFFD).
  return [...new Set(texts)].filter(
    (text) => text.isWellFormed() && !validates(parameter.schema, coerce(parameter.schema, text)).valid,
  );
}

function withoutKey(value: Record<string, unknown>, key: string): Record<string, unknown> {
  const { [key]: _dropped, ...rest } = value;
  return rest;
}

// ---------------------------------------------------------------------------------------------
// Requests.

interface Fixtures {
  user: { auth: Record<string, string>; id: string };
  admin: { auth: Record<string, string>; id: string };
  /** A user whose sessions the session-ending operations end: each such request logs in afresh. */
  sessions: { username: string; ids: string[] };
  /** Real ids per path parameter, so that generated requests reach more than 404. */
  ids: Record<string, string[]>;
}

let fixtures: Fixtures;

/** The ids a path parameter takes (plus random uuids), by operation path and parameter name. */
function realIds(path: string, name: string): string[] {
  if (path.startsWith("/auth/sessions")) return fixtures.sessions.ids;
  if (path.startsWith("/documents/") && name === "id") return fixtures.ids.document ?? [];
  if (path.startsWith("/documents/") && name === "userId") return [fixtures.user.id, fixtures.admin.id];
  if (path.startsWith("/users/") && name === "id") return fixtures.ids.victim ?? [];
  if (path.startsWith("/webhooks/")) return fixtures.ids.webhook ?? [];
  if (path.startsWith("/notifications/")) return fixtures.ids.notification ?? [];
  return [];
}

/** Names every JavaScript object answers to, for lookups by a client's key. */
const PROTOTYPE_KEYS = fc.constantFrom("toString", "constructor", "__proto__", "hasOwnProperty");

/** Operations that end the caller's session: each request gets a session of its own. */
const ENDS_SESSION = new Set(["post /auth/logout", "delete /auth/sessions", "delete /auth/sessions/{id}"]);

function pathArbitrary(path: string, parameter: Parameter): fc.Arbitrary<string> {
  const schema = resolve(parameter.schema);
  const ids = realIds(path, parameter.name);
  if (schema.format === "uuid" && ids.length > 0) {
    return fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...ids) }, { weight: 1, arbitrary: fc.uuid() });
  }
  if (parameter.name === "version") {
    return fc.oneof({ weight: 3, arbitrary: fc.constantFrom("1", "2") }, { weight: 1, arbitrary: asText(schema) });
  }
  if (parameter.name === "code" && path === "/problems/{code}") {
    return fc.oneof(fc.constantFrom("validation_failed", "not_found"), asText(schema), PROTOTYPE_KEYS);
  }
  return asText(schema);
}

/** A valid value of a parameter's schema, as the text it travels as. */
function asText(schema: Schema): fc.Arbitrary<string> {
  return valueArbitrary(schema).map((value) => serialise(value));
}

function serialise(value: unknown): string {
  if (Array.isArray(value)) return value.map(serialise).join(",");
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

function queryArbitrary(parameters: Parameter[]): fc.Arbitrary<[string, string][]> {
  const query = parameters.filter((p) => p.in === "query");
  return fc
    .tuple(
      ...query.map((p) => {
        const value = queryValue(p);
        return p.required ? value : fc.option(value, { freq: 2, nil: undefined });
      }),
    )
    .map((values) => values.flat().filter((entry): entry is [string, string] => entry !== undefined));
}

/** A query parameter's entries: an array schema may repeat the parameter (style form, explode). */
function queryValue(parameter: Parameter): fc.Arbitrary<[string, string][]> {
  const schema = resolve(parameter.schema);
  return valueArbitrary(schema).map((value) =>
    Array.isArray(value)
      ? value.map((item): [string, string] => [parameter.name, serialise(item)])
      : [[parameter.name, serialise(value)]],
  );
}

const SMALL_FILES = [
  { type: "text/plain", name: "notes.txt", bytes: "Quarterly notes\nline two\n" },
  { type: "text/markdown", name: "readme.md", bytes: "# Title\n\nSome *words*.\n" },
  { type: "text/csv", name: "table.csv", bytes: "a,b\n1,2\n" },
  { type: "text/html", name: "page.html", bytes: "<!doctype html><p>hello</p>" },
];

function bodyArbitrary(operation: Operation): fc.Arbitrary<Draft["body"]> {
  const body = operation.requestBody;
  if (!body) return fc.constant(undefined);
  const choices = Object.entries(body.content).map(([type, media]) => mediaArbitrary(type, media));
  const any = fc.oneof(...choices);
  return body.required ? any : fc.option(any, { nil: undefined });
}

/** The small files a binary schema allows: an empty one too, unless its `minLength` forbids it. */
function filesFor(schema: Schema | undefined): typeof SMALL_FILES {
  const empty = { type: "text/plain", name: "empty.txt", bytes: "" };
  return (schema?.minLength ?? 0) > 0 ? SMALL_FILES : [...SMALL_FILES, empty];
}

function mediaArbitrary(type: string, media: MediaType): fc.Arbitrary<NonNullable<Draft["body"]>> {
  const schema = media.schema ?? {};
  if (type === "multipart/form-data") {
    const fields = resolve(schema).properties ?? {};
    return fc
      .tuple(
        fc.constantFrom(...filesFor(fields.file)),
        fc.option(fields.title ? valueArbitrary(fields.title) : fc.constant(undefined), { nil: undefined }),
        fc.option(fields.tags ? valueArbitrary(fields.tags) : fc.constant(undefined), { nil: undefined }),
      )
      .map(([file, title, tags]) => {
        const form = new FormData();
        form.append("file", new File([file.bytes], file.name, { type: file.type }));
        if (typeof title === "string") form.append("title", title);
        if (typeof tags === "string") form.append("tags", tags);
        return { type, payload: form, shown: `multipart: ${file.name} title=${String(title)} tags=${String(tags)}` };
      });
  }
  if (type === "*/*") {
    return fc
      .constantFrom(...filesFor(schema))
      .map((file) => ({ type: file.type, payload: file.bytes, shown: file.bytes || "(empty)" }));
  }
  // Marked rather than filtered: a filter spins for ever on a schema it cannot satisfy.
  return valueArbitrary(schema).map((value) => ({
    ...encode(type, value),
    offDocument: !validates(schema, value).valid,
  }));
}

function encode(type: string, value: unknown): NonNullable<Draft["body"]> {
  if (type === "application/x-www-form-urlencoded" && value !== null && typeof value === "object") {
    const form = new URLSearchParams(Object.entries(value).map(([k, v]) => [k, serialise(v)]));
    return { type, payload: form.toString(), shown: form.toString() };
  }
  const text = JSON.stringify(value);
  return { type, payload: text, shown: text };
}

function actorArbitrary(key: string, operation: Operation): fc.Arbitrary<Draft["as"]> {
  if (ENDS_SESSION.has(key)) return fc.constant("fresh");
  return operation.security?.length ? fc.constantFrom("user", "admin") : fc.constant("user");
}

function validDraft(key: string, path: string, operation: Operation): fc.Arbitrary<Draft> {
  const parameters = operation.parameters ?? [];
  const pathParameters = parameters.filter((p) => p.in === "path");
  return fc.record({
    path: fc.record(Object.fromEntries(pathParameters.map((p) => [p.name, pathArbitrary(path, p)]))),
    query: queryArbitrary(parameters),
    body: bodyArbitrary(operation),
    as: actorArbitrary(key, operation),
  });
}

/**
 * A valid request with one part made invalid: a path or query parameter, or the JSON body. A body
 * mutation that happens to stay valid (a oneOf's other branch) is marked, and skipped.
 */
function invalidDraft(key: string, path: string, operation: Operation): fc.Arbitrary<Draft> | undefined {
  const valid = validDraft(key, path, operation);
  const mutations: fc.Arbitrary<Draft>[] = [];
  for (const parameter of operation.parameters ?? []) {
    const texts = invalidTexts(parameter).filter(
      (text) => parameter.in !== "path" || (text !== "" && !text.includes("/")),
    );
    if (texts.length === 0) continue;
    const bad = fc.constantFrom(...texts);
    if (parameter.in === "path") {
      mutations.push(
        fc.tuple(valid, bad).map(([draft, value]) => ({ ...draft, path: { ...draft.path, [parameter.name]: value } })),
      );
    } else if (parameter.in === "query") {
      mutations.push(
        fc.tuple(valid, bad).map(([draft, value]) => ({
          ...draft,
          query: [...draft.query.filter(([name]) => name !== parameter.name), [parameter.name, value]],
        })),
      );
    }
  }
  const json = operation.requestBody?.content["application/json"]?.schema;
  if (json) {
    const bad = invalidArbitrary(json);
    if (bad) {
      mutations.push(
        fc.tuple(valid, bad).map(([draft, value]) => ({
          ...draft,
          body: encode("application/json", value),
          stillValid: validates(json, value).valid,
        })),
      );
    }
    mutations.push(
      valid.map((draft) => ({
        ...draft,
        body: { type: "application/json", payload: MALFORMED, shown: "{ (malformed)" },
      })),
      // The right body under a type the operation does not take, and no body at all.
      valid.map((draft) => ({ ...draft, body: draft.body && { ...draft.body, type: "text/plain" } })),
      valid.map((draft) => ({ ...draft, body: undefined })),
    );
  }
  const content = operation.requestBody?.content ?? {};
  if ((content["multipart/form-data"]?.schema?.properties?.file?.minLength ?? 0) > 0) {
    mutations.push(
      valid.map((draft) => {
        const form = new FormData();
        form.append("file", new File([], "empty.txt", { type: "text/plain" }));
        return { ...draft, body: { type: "multipart/form-data", payload: form, shown: "multipart: an empty file" } };
      }),
    );
  }
  if ((content["*/*"]?.schema?.minLength ?? 0) > 0) {
    mutations.push(valid.map((draft) => ({ ...draft, body: { type: "text/plain", payload: "", shown: "(empty)" } })));
  }
  return mutations.length > 0 ? fc.oneof(...mutations) : undefined;
}

/** A query or path value as the document's schema reads it (a number for numeric schemas). */
function coerce(schema: Schema, text: string): unknown {
  const types = typesOf(resolve(schema));
  if ((types.includes("integer") || types.includes("number")) && text.trim() !== "" && Number.isFinite(Number(text))) {
    return Number(text);
  }
  return text;
}

async function send(method: string, path: string, draft: Draft): Promise<{ res: Response; shown: string }> {
  const url =
    path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent((draft.path[name] ?? "").toWellFormed())) +
    (draft.query.length > 0 ? `?${new URLSearchParams(draft.query).toString()}` : "");
  const headers: Record<string, string> = { "cf-connecting-ip": randomIp() };
  if (draft.as === "fresh") {
    Object.assign(headers, { authorization: `Bearer ${(await login(fixtures.sessions.username)).access_token}` });
  } else {
    Object.assign(headers, fixtures[draft.as].auth);
  }
  const init: RequestInit = { method: method.toUpperCase(), headers };
  if (draft.body) {
    init.body = draft.body.payload;
    // FormData sets its own type with the boundary.
    if (!(draft.body.payload instanceof FormData)) headers["content-type"] = draft.body.type;
  }
  const shown = `${method.toUpperCase()} ${url} as ${draft.as}${draft.body ? ` [${draft.body.type}] ${draft.body.shown.slice(0, BODY_PREVIEW)}` : ""}`;
  return { res: await api(url, init), shown };
}

// ---------------------------------------------------------------------------------------------
// Responses.

function mediaFor(content: Record<string, MediaType>, type: string): MediaType | undefined {
  if (content[type]) return content[type];
  const [major] = type.split("/");
  return content[`${major}/*`] ?? content["*/*"];
}

/** Why a response is not what the operation documents, or undefined when it is. */
async function undocumented(operation: Operation, res: Response): Promise<string | undefined> {
  const text = await res.text();
  const said = `${res.status} ${res.headers.get("content-type") ?? "(no type)"} ${text.slice(0, BODY_PREVIEW)}`;
  if (res.status >= 500) return `a server error: ${said}`;
  const response = operation.responses[String(res.status)] ?? operation.responses.default;
  if (!response) return `status not documented: ${said}`;
  if (!response.content) {
    return text === "" || res.status === 302 ? undefined : `a body where none is documented: ${said}`;
  }
  const type = (res.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  const media = mediaFor(response.content, type);
  if (!media) return `media type not documented (${Object.keys(response.content).join(", ")}): ${said}`;
  if (!type.endsWith("json") || !media.schema) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return `not JSON: ${said}`;
  }
  const result = validates(media.schema, body);
  return result.valid ? undefined : `body does not match its schema (${result.errors}): ${said}`;
}

/**
 * A 400 for a request the document calls valid, allowed where a rule spans more than one value or
 * depends on stored state, which a schema cannot say; the operation's description says it.
 */
const SEMANTIC_400: Record<
  string,
  (problem: { type?: string; error?: string; errors?: { pointer: string }[] }) => boolean
> = {
  // A cursor is opaque: one this API did not return is refused, naming it.
  "get /users": (p) => only(p, "/cursor"),
  "get /documents": (p) => only(p, "/cursor"),
  "get /documents/trash": (p) => only(p, "/cursor"),
  "get /notifications": (p) => only(p, "/cursor"),
  "get /search": (p) => only(p, "/cursor"),
  "get /uploads": (p) => only(p, "/cursor"),
  "get /projects": (p) => only(p, "/cursor"),
  "get /projects/{id}/activity": (p) => only(p, "/cursor"),
  "get /audit": (p) => only(p, "/cursor"),
  "get /users/me/security-events": (p) => only(p, "/cursor"),
  "get /users/locked": (p) => only(p, "/cursor"),
  // A conversion the stored content type does not offer.
  "get /documents/{id}/content": (p) => only(p, "/format"),
  // Nobody by that email or username.
  "put /documents/{id}/shares": (p) => only(p, "/user"),
  // `from` before `to`, at most 366 days apart (with `to` defaulting to now).
  ...Object.fromEntries(
    ["top-queries", "zero-results", "latency", "click-through"]
      .map((report) => `get /analytics/search/${report}`)
      .concat("get /analytics/metrics")
      .map((key) => [key, (p: { errors?: { pointer: string }[] }) => only(p, "/from", "/to")]),
  ),
  // Credentials that are not right (RFC 6749 §5.2 invalid_grant) are well-formed ones.
  "post /auth/token": (p) => p.error === "invalid_grant",
  "post /auth/refresh": (p) => p.error === "invalid_grant",
  // A TOTP code of the right form that is not the current one.
  "post /auth/mfa/confirm": (p) => pointers(p).every((x) => x === "/code"),
  // A client and redirect URI must be registered ones (never redirected to otherwise).
  "get /auth/authorize": (p) => only(p, "/client_id", "/redirect_uri"),
  "post /auth/authorize": (p) => only(p, "/client_id", "/redirect_uri"),
  // A token of the right form that no mailed link carried.
  "post /auth/email-verification": (p) => p.type === "/problems/invalid_grant",
  "post /auth/password-reset/confirm": (p) => p.type === "/problems/invalid_grant",
  // The new address is the account's own already.
  "post /users/me/email": (p) => only(p, "/email"),
  // A TOTP or recovery code of the right form that is not a current one (the fixture admin has MFA on).
  "post /auth/mfa/disable": (p) => pointers(p).every((x) => x === "/code" || x === "/recoveryCode"),
  "post /auth/mfa/recovery-codes": (p) => pointers(p).every((x) => x === "/code" || x === "/recoveryCode"),
  // A new password must not contain the username (nor, for one's own, be the current one).
  "post /users/me/password": (p) => only(p, "/newPassword"),
  "put /users/{id}/password": (p) => only(p, "/password"),
  // The callback's state lives in a cookie set by /authorize.
  "get /auth/oidc/{provider}/callback": () => true,
  // An expiry in the future and within API_KEY_MAX_LIFETIME_DAYS of now: relative to the clock.
  "post /api-keys": (p) => only(p, "/expiresAt"),
};

function pointers(problem: { errors?: { pointer: string }[] }): string[] {
  return (problem.errors ?? []).map((e) => e.pointer);
}

/** Whether a problem names fields, and only those. */
function only(problem: { errors?: { pointer: string }[] }, ...allowed: string[]): boolean {
  const named = pointers(problem);
  return named.length > 0 && named.every((pointer) => allowed.includes(pointer));
}

// ---------------------------------------------------------------------------------------------

async function fetchDocument(): Promise<OpenApiDocument> {
  const res = await api("/openapi.json");
  expect(res.status).toBe(200);
  return (await res.json()) as OpenApiDocument;
}

function operations(): { key: string; method: string; path: string; operation: Operation }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({ key: `${method} ${path}`, method, path, operation })),
  );
}

/** Operations that destroy fixtures the others use run last. */
function order(key: string): number {
  // Deleting one's own account ends the fixture's user (or admin): after everything else.
  if (key === "delete /users/me") return 2;
  return key.startsWith("delete ") ? 1 : 0;
}

/** A stable per-operation seed, so adding an operation does not change the others' requests. */
function seedOf(key: string): number {
  let hash = SEED;
  for (const char of key) hash = (Math.imul(hash, 31) + (char.codePointAt(0) ?? 0)) | 0;
  return hash;
}

async function setUp(): Promise<Fixtures> {
  const [user, admin, victim, sessionUser] = await Promise.all([signedIn(), signedInAdmin(), register(), register()]);
  for (let i = 0; i < 3; i++) await login(sessionUser.user.username, sessionUser.password);
  const sessionToken = (await login(sessionUser.user.username, sessionUser.password)).access_token;
  const sessions = (await (
    await api("/auth/sessions", { headers: { authorization: `Bearer ${sessionToken}` } })
  ).json()) as { data: { id: string }[] };
  const form = new FormData();
  form.append("file", new File(["fuzzing notes\n"], "notes.txt", { type: "text/plain" }));
  const upload = await api("/documents", { method: "POST", headers: user.auth, body: form });
  expect(upload.status).toBe(201);
  const document = (await upload.json()) as { id: string };
  const hook = await api("/webhooks", {
    method: "POST",
    headers: { ...user.auth, "content-type": "application/json" },
    // The test stack's receiver: POST /webhooks/{id}/verify sends it a request, never the Internet.
    body: JSON.stringify({ url: `${testEnv.CONTROL_URL}/hooks/fuzz` }),
  });
  const webhook = hook.status === 201 ? [((await hook.json()) as { id: string }).id] : [];
  return {
    user: { auth: user.auth, id: user.user.id },
    admin: { auth: admin.auth, id: admin.user.id },
    sessions: { username: sessionUser.user.username, ids: sessions.data.map((s) => s.id) },
    ids: { document: [document.id], victim: [victim.user.id], webhook, notification: [] },
  };
}

describe("the API against its OpenAPI document (property-based)", () => {
  const failures: string[] = [];
  const covered = new Map<string, { valid: number; invalid: number }>();

  beforeAll(async () => {
    doc = await fetchDocument();
    fixtures = await setUp();
  });

  it("answers every generated request, valid or not, as the document says", async () => {
    const ops = operations().sort((a, b) => order(a.key) - order(b.key));
    for (const { key, method, path, operation } of ops) {
      const counts = { valid: 0, invalid: 0 };
      covered.set(key, counts);
      const seed = seedOf(key);
      const report = (kind: string, detail: string) =>
        failures.push(`${key} (${kind}, seed ${seed} of SEED ${SEED}): ${detail}`);

      const valid = await fc.check(
        fc.asyncProperty(validDraft(key, path, operation), async (draft) => {
          fc.pre(!draft.body?.offDocument);
          counts.valid++;
          const { res, shown } = await send(method, path, draft);
          const clone = res.clone();
          const why = await undocumented(operation, res);
          if (why) throw new Error(`${shown} → ${why}`);
          if (res.status === 400) {
            const problem = (await clone.json()) as { type?: string; error?: string; errors?: { pointer: string }[] };
            if (!SEMANTIC_400[key]?.(problem)) {
              throw new Error(
                `valid by the document, refused: ${JSON.stringify(problem.errors ?? problem)} ← ${shown}`,
              );
            }
          }
        }),
        { seed, numRuns: RUNS, endOnFailure: true },
      );
      if (valid.failed) report("valid", String(valid.errorInstance ?? "no valid request could be generated"));

      const invalidArb = invalidDraft(key, path, operation);
      if (!invalidArb) continue;
      const invalid = await fc.check(
        fc.asyncProperty(invalidArb, async (draft) => {
          fc.pre(!draft.stillValid);
          counts.invalid++;
          const { res, shown } = await send(method, path, draft);
          const status = res.status;
          const clone = res.clone();
          const why = await undocumented(operation, res);
          if (why) throw new Error(`${shown} → ${why}`);
          if (status < 400) throw new Error(`${shown} → invalid by the document, accepted with ${status}`);
          if (draft.body?.payload === MALFORMED && status === 400) {
            const { type } = (await clone.json()) as { type?: string };
            if (status !== 400 || type !== "/problems/bad_request") {
              throw new Error(`${shown} → a body that is not JSON is ${type}, not bad_request`);
            }
          }
        }),
        { seed, numRuns: RUNS, endOnFailure: true },
      );
      if (invalid.failed) report("invalid", String(invalid.errorInstance ?? "no invalid request could be generated"));
    }
    expect(failures, failures.join("\n\n")).toEqual([]);
  }, 180_000);

  it("reached every operation of the document", () => {
    const missing = operations()
      .map(({ key }) => key)
      .filter((key) => (covered.get(key)?.valid ?? 0) < RUNS);
    expect(missing).toEqual([]);
  });
});
