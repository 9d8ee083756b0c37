import { buildApp } from "./app.ts";

export { DeviceAuthorization } from "../../src/durable-objects/device-authorization.ts";
export { LoginThrottle } from "../../src/durable-objects/login-throttle.ts";
export { RateLimiter } from "../../src/durable-objects/rate-limiter.ts";
export { Sessions } from "../../src/durable-objects/sessions.ts";

const app = buildApp();

// Default export: the Workers runtime calls `fetch()` on it.
export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
