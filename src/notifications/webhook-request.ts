import { DnsLookupError, resolveAddresses } from "../pkg/dns/doh.ts";
import { BodyTooLargeError, readBoundedText } from "../pkg/http/bounded-body.ts";
import { timeCall } from "../pkg/metrics/recorder.ts";
import { traceHeaders } from "../pkg/tracing/tracing.ts";
import { signWebhook } from "./webhook-signature.ts";
import { NoAddressError, type WebhookUrlRules, webhookTargetProblem } from "./webhook-url.ts";

/** What the sender needs: the URL rules, the resolver, the deadline and the outgoing fetch. */
export interface ReceiverOptions extends WebhookUrlRules {
  /** The DNS-over-HTTPS resolver (WEBHOOK_DNS_RESOLVER). */
  dnsResolver: string;
  /** The whole request, body read included (WEBHOOK_TIMEOUT_MS), in milliseconds. */
  timeoutMs: number;
  fetch: typeof fetch;
}

/** A receiver's answer is read up to this many bytes (a challenge echo is a few dozen). */
export const MAX_RECEIVER_ANSWER_BYTES = 4096;

/**
 * How one signed POST to a receiver went:
 * - `refused`: the URL may not be sent to (now): a permanent failure, nothing was sent;
 * - `unresolved`: the resolver could not tell where the name leads: try again later;
 * - `unresolvable`: the name has no address now (NXDOMAIN): nothing was sent, try again later;
 * - `unreachable`: no answer (connection failed, past the deadline): try again later. Its `reason`
 *   is ours, the same for every failure of a kind (the runtime's error text, which tells a refused
 *   connection from a silent one, would make the sender a port scanner); `cause` is for the log;
 * - `answered`: its status, and its body if it fits in `MAX_RECEIVER_ANSWER_BYTES` (else undefined).
 */
export type ReceiverResult =
  | { kind: "refused"; reason: string }
  | { kind: "unresolved"; reason: string }
  | { kind: "unresolvable"; reason: string }
  | { kind: "unreachable"; reason: string; cause: unknown }
  | { kind: "answered"; status: number; body: string | undefined };

function unreachable(cause: unknown, signal: AbortSignal, timeoutMs: number): ReceiverResult {
  const reason = signal.aborted
    ? `the endpoint did not answer within ${timeoutMs} ms`
    : "the endpoint could not be reached";
  return { kind: "unreachable", reason, cause };
}

/**
 * POSTs `body` (JSON) to the receiver at `url`, signed per Standard Webhooks with `secret` as
 * delivery `id`. Before sending, the URL is checked and its host name resolved
 * (`webhookTargetProblem`), each time: DNS may have changed since the URL was registered.
 * Redirects are never followed (`redirect: "manual"`: a 3xx is the answer; following one would
 * let the receiver send us anywhere, past every check). The answer's body is read only when
 * `readBody`, and at most `MAX_RECEIVER_ANSWER_BYTES` of it. Never throws for the receiver's or
 * the resolver's failures; rejects only for our own (a secret that cannot be used).
 */
export async function postToReceiver(
  url: string,
  message: { id: string; secret: string; body: string; readBody: boolean },
  options: ReceiverOptions,
): Promise<ReceiverResult> {
  let refused: string | undefined;
  try {
    refused = await webhookTargetProblem(url, options, (name) =>
      resolveAddresses(name, { resolverUrl: options.dnsResolver, timeoutMs: options.timeoutMs, fetch: options.fetch }),
    );
  } catch (error) {
    if (error instanceof DnsLookupError) return { kind: "unresolved", reason: error.message };
    if (error instanceof NoAddressError) return { kind: "unresolvable", reason: `the URL's host ${error.message}` };
    throw error;
  }
  if (refused) return { kind: "refused", reason: `the URL ${refused}` };

  const headers = await signWebhook(message.secret, message.id, Math.floor(Date.now() / 1000), message.body);
  const signal = AbortSignal.timeout(options.timeoutMs);
  let response: Response;
  try {
    // In a client span of its own, whose W3C Trace Context the receiver gets (`traceparent`).
    response = await timeCall("webhook", "POST", () =>
      options.fetch(url, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          "User-Agent": "TechCorp-Webhooks/1.0",
          ...traceHeaders(),
          ...headers,
        },
        body: message.body,
        redirect: "manual",
        signal,
      }),
    );
  } catch (cause) {
    return unreachable(cause, signal, options.timeoutMs);
  }
  if (!message.readBody) {
    await response.body?.cancel();
    return { kind: "answered", status: response.status, body: undefined };
  }
  try {
    return {
      kind: "answered",
      status: response.status,
      body: await readBoundedText(response, MAX_RECEIVER_ANSWER_BYTES),
    };
  } catch (cause) {
    if (cause instanceof BodyTooLargeError) return { kind: "answered", status: response.status, body: undefined };
    return unreachable(cause, signal, options.timeoutMs);
  }
}
