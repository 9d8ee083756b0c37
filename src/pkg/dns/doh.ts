import { z } from "zod";
import { readBoundedText } from "../http/bounded-body.ts";

/** The resolver could not answer (unreachable, stalled, malformed, or a DNS error other than NXDOMAIN). */
export class DnsLookupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DnsLookupError";
  }
}

/** DNS RR types (RFC 1035 §3.2.2, RFC 3596 §2.1). */
const A = 1;
const AAAA = 28;
/** RCODEs (RFC 1035 §4.1.1): NOERROR and NXDOMAIN are answers; anything else is a failure. */
const NOERROR = 0;
const NXDOMAIN = 3;
/** A JSON answer is a few hundred bytes; a resolver that sends more is not answering DNS. */
const MAX_ANSWER_BYTES = 64 * 1024;

// The JSON form of DNS over HTTPS that Cloudflare (1.1.1.1) and Google (8.8.8.8) serve beside
// RFC 8484's wire format: `GET ?name=…&type=…` with `Accept: application/dns-json`.
const JsonAnswer = z.object({
  Status: z.number().int(),
  Answer: z.array(z.object({ type: z.number().int(), data: z.string() })).optional(),
});

/** Where and how `resolveAddresses` asks. */
export interface DohOptions {
  /** The resolver's endpoint, e.g. `https://cloudflare-dns.com/dns-query`. */
  resolverUrl: string;
  /** For each query, body included (milliseconds). */
  timeoutMs: number;
  /** The fetch to send the queries with (the runtime's; tests pass their own). */
  fetch: typeof fetch;
}

async function query(name: string, type: number, options: DohOptions): Promise<string[]> {
  const url = new URL(options.resolverUrl);
  url.searchParams.set("name", name);
  url.searchParams.set("type", String(type));
  let status: number;
  try {
    const response = await options.fetch(url, {
      headers: { accept: "application/dns-json" },
      redirect: "manual",
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    const text = await readBoundedText(response, MAX_ANSWER_BYTES);
    if (response.status !== 200) throw new Error(`the resolver answered ${response.status}`);
    const parsed = JsonAnswer.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error("the resolver's answer is not DNS JSON");
    status = parsed.data.Status;
    if (status === NOERROR) {
      return (parsed.data.Answer ?? []).filter((record) => record.type === type).map((record) => record.data);
    }
  } catch (cause) {
    throw new DnsLookupError(`could not resolve ${name}`, { cause });
  }
  if (status === NXDOMAIN) return [];
  throw new DnsLookupError(`could not resolve ${name}: DNS RCODE ${status}`);
}

/**
 * Every A and AAAA address `name` has now, as a DNS-over-HTTPS resolver reports them (the
 * resolver follows CNAMEs; only the address records are kept). NXDOMAIN or no records is `[]`.
 * Throws `DnsLookupError` when the resolver cannot tell (unreachable, past `timeoutMs`, a
 * redirect, a body over 64 KiB, SERVFAIL, REFUSED, …).
 */
export async function resolveAddresses(name: string, options: DohOptions): Promise<string[]> {
  const [v4, v6] = await Promise.all([query(name, A, options), query(name, AAAA, options)]);
  return [...v4, ...v6];
}
