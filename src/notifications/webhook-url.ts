import ipaddr from "ipaddr.js";

/**
 * Which URLs may receive webhooks, so that the sender cannot be turned into a way into internal
 * networks (server-side request forgery: OWASP API Security Top 10 2023, API7; ASVS 5.0 V15/V13
 * "SSRF"). A pure function of the URL and the rules: the same checks run in every environment.
 */
export interface WebhookUrlRules {
  /**
   * Lets receivers on plain http and on loopback, private or otherwise non-public addresses
   * through. Only the local stack sets it (`WEBHOOK_ALLOW_LOCAL_RECEIVERS=true`: its receiver
   * listens on 127.0.0.1); production configuration refuses it.
   */
  allowLocalReceivers: boolean;
}

/**
 * Names that never lead to a public host: RFC 6761 §6.3 (`localhost`), RFC 6762 (`.local`,
 * multicast DNS), RFC 8375 (`.home.arpa`), ICANN's private-use `.internal` (2024; cloud metadata
 * such as `metadata.google.internal` lives there) and the common `.localdomain`.
 */
const LOCAL_SUFFIXES = ["localhost", "local", "localdomain", "internal", "home.arpa"];

/**
 * IPv6 prefixes that carry an IPv4 address in their last 32 bits: IPv4-mapped `::ffff:0:0/96`
 * (RFC 4291 §2.5.5.2), IPv4-compatible `::/96` (§2.5.5.1, deprecated), IPv4-translated
 * `::ffff:0:0:0/96` (RFC 6145) and the NAT64 prefixes `64:ff9b::/96` (RFC 6052) and
 * `64:ff9b:1::/48` (RFC 8215). A connection to one of them may reach that IPv4 address, so the
 * embedded address is what is judged.
 */
const EMBEDS_IPV4 = ["::ffff:0:0/96", "::/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48"].map((cidr) =>
  ipaddr.IPv6.parseCIDR(cidr),
);
/** IANA's global unicast space (RFC 4291 §2.4): everything else in IPv6 is not a public host. */
const GLOBAL_UNICAST = ipaddr.IPv6.parseCIDR("2000::/3");

const NOT_PUBLIC = "must not point to a private, loopback, link-local or otherwise non-public address";

/**
 * What is wrong with `address` (an IPv4 or IPv6 literal, without brackets) as a webhook receiver,
 * or undefined when it is a public unicast address. IPv4 must be in ipaddr.js's `unicast` range
 * (not private RFC 1918, shared `100.64.0.0/10` RFC 6598, loopback, link-local `169.254.0.0/16`,
 * `0.0.0.0/8`, documentation, benchmarking, multicast, reserved or broadcast); IPv6 must be global
 * unicast (`2000::/3`) outside the special ranges of RFC 6890 (6to4, Teredo, documentation, …),
 * and one that embeds an IPv4 address is judged by it. Throws nothing; an unparsable string is a
 * problem too.
 */
export function addressProblem(address: string): string | undefined {
  if (!ipaddr.isValid(address)) return "is not an IP address";
  let ip = ipaddr.parse(address);
  if (ip.kind() === "ipv6") {
    const v6 = ip as ipaddr.IPv6;
    if (EMBEDS_IPV4.some((range) => v6.match(range))) {
      const bytes = v6.toByteArray().slice(12);
      ip = ipaddr.fromByteArray(bytes);
    } else {
      return v6.match(GLOBAL_UNICAST) && v6.range() === "unicast" ? undefined : NOT_PUBLIC;
    }
  }
  return ip.range() === "unicast" ? undefined : NOT_PUBLIC;
}

/** A URL's host as a connection would use it: an IP address, or a name without trailing dots. */
export type WebhookHost = { kind: "address"; address: string } | { kind: "name"; name: string };

/**
 * The host of a URL the WHATWG URL parser has normalised (so `2130706433`, `0x7f.1` and `0177.0.0.1`
 * have become `127.0.0.1`, and IPv6 is in brackets, compressed).
 */
export function webhookHost(url: URL): WebhookHost {
  const host = url.hostname.toLowerCase();
  if (host.startsWith("[") && host.endsWith("]")) return { kind: "address", address: host.slice(1, -1) };
  if (ipaddr.IPv4.isValidFourPartDecimal(host)) return { kind: "address", address: host };
  // DNS's absolute form: `localhost.` is `localhost`.
  return { kind: "name", name: host.replace(/\.+$/, "") };
}

/**
 * What is wrong with `raw` as a webhook URL, or undefined: it must parse as an http(s) URL without
 * credentials; unless `rules.allowLocalReceivers`, it must use https and its host must be a public
 * address or a name with at least two labels outside the local-only names (`localhost`, `.local`,
 * `.internal`, …). A name that resolves to a private address is caught where it is sent to
 * (`webhookTargetProblem` with a resolver). Throws nothing.
 */
export function webhookUrlProblem(raw: string, rules: WebhookUrlRules): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "not a URL";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return "must be an http(s) URL";
  if (url.username || url.password) return "must not contain credentials";
  if (rules.allowLocalReceivers) return undefined;
  if (url.protocol !== "https:") return "must use https";
  const host = webhookHost(url);
  if (host.kind === "address") return addressProblem(host.address);
  const { name } = host;
  // A single label (`metadata`, `intranet`) is completed by a resolver's search domains, if at all.
  if (!name.includes(".") || LOCAL_SUFFIXES.some((suffix) => name === suffix || name.endsWith(`.${suffix}`))) {
    return "must not point to a local or internal host name";
  }
  return undefined;
}

/**
 * The host name has no A or AAAA record now (NXDOMAIN, or no address records). Not a verdict on
 * the URL: the receiver's DNS may be down for a while, so a delivery tries again later.
 */
export class NoAddressError extends Error {
  readonly hostname: string;

  constructor(hostname: string) {
    super(`${hostname} does not resolve to an address`);
    this.name = "NoAddressError";
    this.hostname = hostname;
  }
}

/** Looks up a name's A and AAAA addresses (see src/pkg/dns/doh.ts); throws when it cannot tell. */
export type ResolveAddresses = (name: string) => Promise<string[]>;

/**
 * `webhookUrlProblem`, and then, for a name, every address it resolves to right now must be
 * public. Run before each request to the
 * receiver, not only when the URL is registered: the name's records may change at any time (DNS
 * rebinding). Rejects with `NoAddressError` when the name has no address, and with what `resolve`
 * throws (the resolver cannot tell): both mean "try again later", never "sent".
 */
export async function webhookTargetProblem(
  raw: string,
  rules: WebhookUrlRules,
  resolve: ResolveAddresses,
): Promise<string | undefined> {
  const problem = webhookUrlProblem(raw, rules);
  if (problem || rules.allowLocalReceivers) return problem;
  const host = webhookHost(new URL(raw));
  if (host.kind === "address") return undefined;
  const addresses = await resolve(host.name);
  if (addresses.length === 0) throw new NoAddressError(host.name);
  const denied = addresses.find((address) => addressProblem(address) !== undefined);
  return denied ? `resolves to ${denied}, a non-public address` : undefined;
}
