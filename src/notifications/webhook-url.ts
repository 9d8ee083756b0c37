/**
 * Whether a URL may receive webhooks: http(s) without credentials; in production only https, and
 * never a loopback, private or link-local address (the sender must not become a way into
 * internal networks). Returns what is wrong, or undefined.
 */
export function webhookUrlProblem(raw: string, environment: "development" | "test" | "production"): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "not a URL";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return "must be an http(s) URL";
  if (url.username || url.password) return "must not contain credentials";
  if (environment !== "production") return undefined;
  if (url.protocol !== "https:") return "must use https";
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const internal =
    host === "localhost" ||
    host.endsWith(".localhost") ||
    host.endsWith(".internal") ||
    /^(127|10|0)\./.test(host) ||
    /^169\.254\./.test(host) ||
    /^192\.168\./.test(host) ||
    /^172\.(1[6-9]|2\d|3[01])\./.test(host) ||
    /^(::1?|f[cd][0-9a-f]{2}:.*|fe80:.*)$/.test(host);
  return internal ? "must not point to a private or loopback address" : undefined;
}
