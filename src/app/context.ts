import type { DataRights } from "../auth/scopes.ts";
import type { InvalidTokenError } from "../auth/tokens.ts";
import type { Actor } from "../db/actor.ts";
import type { DatabaseHandle } from "../db/client.ts";
import type { Permission, UserRole } from "../db/schema/users.ts";
import type { KeyUsage, RequiredAction, Session } from "../durable-objects/sessions.ts";
import type { DurableObjectCallCount } from "../gateway/durable-object-calls.ts";
import type { Cache } from "../pkg/cache/cache.ts";
import type { ApiConfig } from "../pkg/config/config.ts";
import type { Logger } from "../pkg/logger/logger.ts";
import type { EventPublisher, NotificationPublisher } from "../pkg/queue/events.ts";
import type { MultipartStorage } from "../pkg/storage/multipart.ts";
import type { ObjectStorage } from "../pkg/storage/storage.ts";

/** Everything a handler may talk to, built per request by the services middleware. */
export interface Services {
  config: ApiConfig;
  database: DatabaseHandle;
  cache: Cache;
  /** The documents bucket. */
  storage: ObjectStorage;
  /** The thumbnails bucket (the architecture keeps them apart). */
  thumbnails: ObjectStorage;
  /** Multipart uploads into the documents bucket, driven one request at a time (resumable uploads). */
  multipart: MultipartStorage;
  events: EventPublisher;
  /** The `notifications` queue: mails to send (`enqueueMail`, src/notifications/mail.ts). */
  notifications: NotificationPublisher;
  /**
   * Work that may finish after the response (analytics, cache writes, clean-ups): it runs within
   * the request's lifetime (waitUntil), failures are logged, and the database stays open for it.
   */
  background(name: string, task: () => Promise<unknown>): void;
}

/** The authenticated caller, from a verified access token and its live session. */
export interface AuthContext {
  userId: string;
  sessionId: string;
  /** Current role and permissions, from the session store (not the token), so changes apply at once. */
  role: UserRole;
  permissions: Permission[];
  /** The same caller as row-level security sees it. */
  actor: Actor;
  /**
   * Whether the caller may read, and change, the user's own resources on routes no permission
   * guards: the `read`/`write` scopes of its key or of its session's grant (src/auth/scopes.ts); a
   * password-grant session holds both. Enforced by the route guards (`requireAuth`).
   */
  data: DataRights;
  /**
   * Set when the caller authenticated with an API key (src/auth/api-keys.ts) rather than a
   * session's access token; `sessionId` is then empty, `role` is `user` and `permissions` are the
   * key's scopes ∩ the owner's current ones.
   */
  apiKey?: {
    id: string;
    scopes: string[];
    /** The one project the key reaches, or null for a personal key. */
    projectId: string | null;
  };
  /** Required actions pending on the session: every route but theirs answers 403 (`requireAuth`). */
  requiredActions: RequiredAction[];
  /** When the session was signed in to (epoch ms): its authentication time (RFC 9470 `auth_time`). */
  authenticatedAt: number;
}

declare module "hono" {
  interface ContextVariableMap {
    /**
     * The client's own `X-Request-ID`, when it sent a valid one: logged and recorded beside ours
     * (`requestId`, always generated here), never in its place (src/gateway/request-id.ts).
     */
    clientRequestId: string | undefined;
    /** The W3C trace id of the request's trace (32 hex digits), when it has one: in every log line. */
    traceId: string | undefined;
    services: Services;
    logger: Logger;
    /** Set by the authentication middleware once a caller is known; logged with the request. */
    userId: string;
    /**
     * The caller, once the gateway authenticated a token; absent for an anonymous request. Read it
     * with `callerOf(c)` (src/gateway/authentication.ts), which refuses an anonymous request with 401.
     */
    auth: AuthContext | undefined;
    /** Why a presented token was refused, for the WWW-Authenticate of a protected route. */
    authError: InvalidTokenError;
    /** The caller's live sessions, when the gateway read them with the session check (GET /auth/sessions). */
    liveSessions: Session[];
    /** The caller's API keys' last uses by key id, when the gateway read them with the session check (GET /api-keys). */
    keyUsage: Record<string, KeyUsage>;
    /** The Durable Object calls this request has made (src/gateway/durable-object-calls.ts); logged. */
    durableObjectCalls: DurableObjectCallCount;
  }
}

/** The Hono environment of the API worker. */
export interface AppEnv {
  Bindings: Env;
}
