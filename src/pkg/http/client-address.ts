import ipaddr from "ipaddr.js";

/** IPv6 clients are counted by this prefix: the /64 one subscriber is routinely given. */
export const IPV6_CLIENT_PREFIX_BITS = 64;

/**
 * The key under which a client address is counted (rate limits, login throttle): an IPv4 address
 * as itself (an IPv4-mapped IPv6 address as the IPv4 one), an IPv6 address as its /64 network
 * (`2001:db8:1:2::/64`), since a single subscriber holds at least a /64 (RFC 6177 §2) and could
 * otherwise count every request from a new address (OWASP API4:2023). Anything that is not an
 * address (`unknown` when the header is missing) is its own key.
 */
export function clientAddressKey(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const ip = ipaddr.process(address);
  if (ip.kind() === "ipv4") return ip.toString();
  const bytes = ip.toByteArray();
  const prefix = IPV6_CLIENT_PREFIX_BITS / 8;
  const network = ipaddr.fromByteArray([
    ...bytes.slice(0, prefix),
    ...new Array<number>(bytes.length - prefix).fill(0),
  ]);
  return `${network.toString()}/${IPV6_CLIENT_PREFIX_BITS}`;
}
