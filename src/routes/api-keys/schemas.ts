import { z } from "@hono/zod-openapi";
import { API_KEY_SCOPES, type ListedApiKey } from "../../auth/api-keys.ts";
import { instant, nonBlankText, uuid } from "../fields.ts";

export const ApiKeyIdParams = z.object({ id: uuid().openapi({ param: { name: "id", in: "path" } }) });

export const UserApiKeyParams = z.object({
  id: uuid().openapi({ param: { name: "id", in: "path" }, description: "The key's owner." }),
  keyId: uuid().openapi({ param: { name: "keyId", in: "path" } }),
});

export const UserIdParams = z.object({
  id: uuid().openapi({ param: { name: "id", in: "path" }, description: "The keys' owner." }),
});

const ScopeSchema = z.enum(API_KEY_SCOPES).openapi({
  description:
    "`read`: GET and HEAD of the routes the owner reaches; `write`: every other method too (implies `read`); a delegated permission (`users:read`, `analytics:read`…): the routes it guards. Only what the creator holds.",
});

export const CreateApiKeySchema = z
  .strictObject({
    name: nonBlankText().trim().min(1).max(100).openapi({ example: "CI uploader" }),
    scopes: z
      .array(ScopeSchema)
      .min(1)
      .max(16)
      .openapi({ example: ["read"] }),
    projectId: uuid()
      .nullable()
      .default(null)
      .openapi({ description: "Bind the key to this project (a service key): it reaches that project alone." }),
    expiresAt: instant().optional().openapi({
      description:
        "When the key stops working; default `API_KEY_DEFAULT_LIFETIME_DAYS` from now, at most `API_KEY_MAX_LIFETIME_DAYS`.",
    }),
  })
  .openapi("ApiKeyCreate");

export const ApiKeySchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    kind: z.enum(["personal", "project"]).openapi({
      description: "`project`: a service key bound to `projectId`; `personal`: reaches what its owner reaches.",
    }),
    prefix: z.string().openapi({ description: "How every key starts (`tcp_`).", example: "tcp_" }),
    lastCharacters: z.string().openapi({ description: "The key's last four characters.", example: "x9Qa" }),
    scopes: z.array(z.string()),
    projectId: z.uuid().nullable(),
    createdAt: z.iso.datetime(),
    expiresAt: z.iso.datetime(),
    revokedAt: z.iso.datetime().nullable(),
    lastUsedAt: z.iso.datetime().nullable(),
    lastUsedIp: z.string().nullable(),
  })
  .openapi("ApiKey");

export const CreatedApiKeySchema = ApiKeySchema.extend({
  key: z.string().openapi({
    description: "The key, shown only now (only its hash is kept): send it as `Authorization: Bearer tcp_…`.",
  }),
}).openapi("CreatedApiKey");

export const ApiKeyListSchema = z.object({ data: z.array(ApiKeySchema) }).openapi("ApiKeyList");

const iso = (value: Date | number | null) => (value === null ? null : new Date(value).toISOString());

export function toApiKeyJson(row: ListedApiKey): z.infer<typeof ApiKeySchema> {
  return {
    id: row.id,
    name: row.name,
    kind: row.projectId === null ? "personal" : "project",
    prefix: "tcp_",
    lastCharacters: row.lastCharacters,
    scopes: row.scopes,
    projectId: row.projectId,
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt.toISOString(),
    revokedAt: iso(row.revokedAt),
    lastUsedAt: iso(row.lastUsedAt),
    lastUsedIp: row.lastUsedIp,
  };
}

/** The shared description of the key routes. */
export const INTERACTIVE = "Only with a signed-in session's access token: an API key cannot manage keys (403).";
