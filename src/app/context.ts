import type { DatabaseHandle } from "../db/client.ts";
import type { Cache } from "../pkg/cache/cache.ts";
import type { ApiConfig } from "../pkg/config/config.ts";
import type { Logger } from "../pkg/logger/logger.ts";
import type { EventPublisher } from "../pkg/queue/events.ts";
import type { ObjectStorage } from "../pkg/storage/storage.ts";

/** Everything a handler may talk to, built per request by the services middleware. */
export interface Services {
  config: ApiConfig;
  database: DatabaseHandle;
  cache: Cache;
  storage: ObjectStorage;
  events: EventPublisher;
}

declare module "hono" {
  interface ContextVariableMap {
    services: Services;
    logger: Logger;
    /** Set by the authentication middleware once a caller is known; logged with the request. */
    userId: string;
  }
}

/** The Hono environment of the API worker. */
export interface AppEnv {
  Bindings: Env;
}
