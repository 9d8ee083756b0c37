import { describe, expect, it } from "vitest";
import { CREDENTIAL_POLICIES, DEFAULT_POLICIES } from "../../src/gateway/rate-limit-policies.ts";
import { createApiKey, keyAuth } from "../api-key-helpers.ts";
import { randomIp, signedIn } from "../auth-helpers.ts";
import { api, apiWith, expectProblem } from "../helpers.ts";
import { createProject, expectJson } from "../project-helpers.ts";

// What routes declare about themselves (src/gateway/route-traits.ts), read off the OpenAPI
// document's `x-` extensions, which carry the very traits the gateway and the guards read.

type Schema = {
  $ref?: string;
  properties?: Record<string, Schema>;
  allOf?: Schema[];
  oneOf?: Schema[];
  anyOf?: Schema[];
};
type Operation = {
  security?: Record<string, string[]>[];
  requestBody?: { content?: Record<string, { schema?: Schema }> };
  "x-rate-limit-policy"?: string | false;
  "x-interactive-only"?: boolean;
  "x-project-keys"?: { param: string } | "row-level-security";
};
type ApiDocument = {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
};

const operationsOf = (doc: ApiDocument) =>
  Object.entries(doc.paths).flatMap(([template, operations]) =>
    Object.entries(operations).map(([method, operation]) => ({
      name: `${method.toUpperCase()} ${template}`,
      template,
      method,
      operation,
    })),
  );

/** Every property name a schema takes, through references and combinations. */
function propertyNames(doc: ApiDocument, schema: Schema | undefined, seen = new Set<string>()): Set<string> {
  const names = new Set<string>();
  if (!schema) return names;
  if (schema.$ref && !seen.has(schema.$ref)) {
    seen.add(schema.$ref);
    const target = doc.components?.schemas?.[schema.$ref.replace("#/components/schemas/", "")];
    for (const name of propertyNames(doc, target, seen)) names.add(name);
  }
  for (const name of Object.keys(schema.properties ?? {})) names.add(name);
  for (const part of [...(schema.allOf ?? []), ...(schema.oneOf ?? []), ...(schema.anyOf ?? [])]) {
    for (const name of propertyNames(doc, part, seen)) names.add(name);
  }
  return names;
}

/**
 * Fields that carry a secret the server checks: a password or code being guessed, a token being
 * spent. A signed-in administrator setting a temporary `password` is not one (counted per user
 * under `api`), so `password` counts on operations without a token only.
 */
const CHECKED_SECRETS = [
  "currentPassword",
  "code",
  "otp",
  "recovery_code",
  "recoveryCode",
  "mfa_token",
  "refresh_token",
  "device_code",
  "user_code",
];

const documentOf = async () => expectJson<ApiDocument>(await api("/openapi.json"), 200);

describe("rate-limit policies, declared on the routes", () => {
  it("every operation taking a checked credential is counted under a credential policy (strict, failing closed)", async () => {
    const doc = await documentOf();
    const takingCredentials: string[] = [];
    for (const { name, operation } of operationsOf(doc)) {
      const fields = new Set<string>();
      for (const media of Object.values(operation.requestBody?.content ?? {})) {
        for (const field of propertyNames(doc, media.schema)) fields.add(field);
      }
      const anonymous = !operation.security?.some((entry) => "bearerAuth" in entry);
      const checked = CHECKED_SECRETS.some((field) => fields.has(field)) || (anonymous && fields.has("password"));
      if (!checked) continue;
      takingCredentials.push(name);
      const policy = operation["x-rate-limit-policy"];
      expect(typeof policy === "string" && CREDENTIAL_POLICIES.has(policy), `${name}: ${policy}`).toBe(true);
    }
    // The walk found them: the sign-in forms, the token endpoint, registration, the second factor, passwords.
    expect(takingCredentials).toEqual(
      expect.arrayContaining([
        "POST /auth/token",
        "POST /auth/refresh",
        "POST /auth/authorize",
        "POST /auth/device",
        "POST /users",
        "POST /auth/password-reset/confirm",
        "POST /auth/mfa/confirm",
        "POST /auth/mfa/disable",
        "POST /auth/mfa/recovery-codes",
        "POST /users/me/password",
        "POST /users/me/email",
      ]),
    );
  });

  it("each declared policy is a built-in one, and the routes declare the policies intended", async () => {
    const declared: Record<string, string | false> = {};
    for (const { name, operation } of operationsOf(await documentOf())) {
      const policy = operation["x-rate-limit-policy"];
      if (policy === undefined) continue;
      declared[name] = policy;
      if (policy !== false) expect(Object.keys(DEFAULT_POLICIES), name).toContain(policy);
    }
    expect(declared).toEqual({
      "POST /auth/token": "token",
      "POST /auth/refresh": "token",
      "POST /auth/authorize": "auth",
      "POST /auth/device_authorization": "auth",
      "POST /auth/device": "auth",
      "POST /users": "auth",
      "POST /auth/mfa/confirm": "auth",
      "POST /auth/mfa/disable": "auth",
      "POST /auth/mfa/recovery-codes": "auth",
      "POST /api-keys": "auth",
      "POST /auth/password-reset/confirm": "auth",
      "POST /auth/email-verification": "auth",
      "POST /users/me/email": "auth",
      "POST /auth/password-reset": "recovery",
      "POST /users/me/email-verification": "verification",
      "POST /users/me/password": "auth",
      "GET /users/me/export": "export",
      "POST /documents/{id}/versions/{version}/restore": "processing",
      "PUT /documents/{id}/shares": "sharing",
      "POST /webhooks/{id}/verify": "outbound",
      "GET /ready": "probe",
      "GET /metrics": "probe",
      "GET /health": false,
    });
  });

  it("a protected route is counted under the policy it declares, whose windows RATE_LIMIT_POLICIES replaces by name", async () => {
    const { auth } = await signedIn();
    const bindings = {
      RATE_LIMIT_POLICIES: JSON.stringify({ sharing: [{ name: "burst", limit: 1, windowSeconds: 60 }] }),
    } as Partial<Env> & object;
    const share = () =>
      apiWith(bindings, `/documents/${crypto.randomUUID()}/shares`, {
        method: "PUT",
        headers: { ...auth, "content-type": "application/json", "cf-connecting-ip": randomIp() },
        body: JSON.stringify({ shares: [] }),
      });
    const first = await share();
    expect(first.headers.get("ratelimit-policy")).toBe('"burst";q=1;w=60');
    await expectProblem(await share(), 429);
    // Another route of the same user is counted under `api`, apart.
    const other = await apiWith(bindings, "/documents", { headers: { ...auth, "cf-connecting-ip": randomIp() } });
    expect(other.status).toBe(200);
    expect(other.headers.get("ratelimit-policy")).not.toBe('"burst";q=1;w=60');
  });
});

describe("project keys' reach, declared on the routes", () => {
  it("a project key is refused exactly the operations that do not declare x-project-keys, and another project's", async () => {
    const owner = await signedIn();
    const mine = await createProject(owner.auth);
    const other = await createProject(owner.auth);
    // Read-only: the walk changes nothing (writes stop at the scope, after the reach is decided).
    const { key } = await createApiKey(owner.auth, { scopes: ["read"], projectId: mine.id });
    const roomy = Object.fromEntries(
      Object.keys(DEFAULT_POLICIES).map((name) => [name, [{ name: "burst", limit: 10_000, windowSeconds: 60 }]]),
    );
    const bindings = { RATE_LIMIT_POLICIES: JSON.stringify(roomy) } as Partial<Env> & object;
    const send = (method: string, path: string) => {
      const write = method !== "get" && method !== "head";
      return apiWith(bindings, path, {
        method: method.toUpperCase(),
        headers: { ...keyAuth(key), ...(write ? { "content-type": "application/json" } : {}) },
        ...(write ? { body: "{}" } : {}),
      });
    };
    const boundRefusal = `bound to project ${mine.id}`;
    const expectedRefused: string[] = [];
    const refused: string[] = [];
    let reachable = 0;
    for (const { name, template, method, operation } of operationsOf(await documentOf())) {
      const protectedOperation =
        operation.security?.some((entry) => "bearerAuth" in entry) &&
        !operation.security.some((entry) => Object.keys(entry).length === 0);
      if (!protectedOperation || operation["x-interactive-only"]) continue;
      const reach = operation["x-project-keys"];
      if (!reach) expectedRefused.push(name);
      const projectParam = typeof reach === "object" ? reach.param : undefined;
      const pathFor = (projectId: string) =>
        template.replace(/\{(\w+)\}/g, (_, param: string) =>
          param === projectParam
            ? projectId
            : param === "permission"
              ? "users:read"
              : ["version", "partNumber"].includes(param)
                ? "1"
                : crypto.randomUUID(),
        );
      const res = await send(method, pathFor(mine.id));
      expect(res.status, name).toBeLessThan(500);
      if (res.status === 403 && (await res.text()).includes(boundRefusal)) refused.push(name);
      if (projectParam) {
        reachable++;
        const elsewhere = await send(method, pathFor(other.id));
        const problem = await expectProblem(elsewhere, 403);
        expect(problem.detail, `${name} of another project`).toContain(boundRefusal);
      }
    }
    expect(reachable).toBeGreaterThan(5);
    expect(expectedRefused).toEqual(expect.arrayContaining(["GET /projects", "GET /users/me", "GET /search"]));
    expect(refused.sort()).toEqual(expectedRefused.sort());
  });
});
