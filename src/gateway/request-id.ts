import type { MiddlewareHandler } from "hono";

/** An `X-Request-ID` a client may send: at most 255 characters of `[A-Za-z0-9_=-]`. */
const CLIENT_REQUEST_ID = /^[\w=-]{1,255}$/;

/**
 * The request id: always generated here (a UUID), set as `requestId` and answered as
 * `X-Request-ID`, so the id a problem, a log line, a queue message or an audit event carries names
 * this request only; a client cannot make its request share the id of another one (someone
 * else's, in the audit log: ASVS 7.1 log integrity). A valid `X-Request-ID` the client sent is
 * kept as `clientRequestId`, for correlating with the client's own logs.
 */
export function requestId(): MiddlewareHandler {
  return async function requestId(c, next) {
    const id = crypto.randomUUID();
    c.set("requestId", id);
    const presented = c.req.header("X-Request-ID");
    if (presented && CLIENT_REQUEST_ID.test(presented)) c.set("clientRequestId", presented);
    c.header("X-Request-ID", id);
    await next();
  };
}
