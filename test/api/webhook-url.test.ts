import { describe, expect, it } from "vitest";
import { NoAddressError, type WebhookUrlRules, webhookTargetProblem } from "../../src/notifications/webhook-url.ts";
import { resolveAddresses } from "../../src/pkg/dns/doh.ts";
import { testEnv } from "../helpers.ts";

// The URL filter itself, a pure function, is tested in test/unit/webhook-url.test.ts; here the host
// names resolve through the test stack's DNS-over-HTTPS resolver, with the rules production has.
const strict: WebhookUrlRules = { allowLocalReceivers: false };

const LOCAL_NAME = "must not point to a local or internal host name";

describe("webhookTargetProblem: what the host name resolves to now (DNS-over-HTTPS)", () => {
  const resolverUrl = `${testEnv.CONTROL_URL}/dns-query`;
  const resolve = (name: string) =>
    resolveAddresses(name, { resolverUrl, timeoutMs: 2000, fetch: (input, init) => fetch(input, init) });
  const put = (records: Record<string, unknown>) =>
    fetch(`${testEnv.CONTROL_URL}/dns/records`, { method: "PUT", body: JSON.stringify(records) });

  it("refuses a name with any private address, allows one with only public ones", async () => {
    const id = crypto.randomUUID().slice(0, 8);
    await put({
      [`public-${id}.example.com`]: { A: ["93.184.215.14"], AAAA: ["2606:4700::6810:84e5"] },
      [`rebound-${id}.example.com`]: { A: ["93.184.215.14", "127.0.0.1"] },
      [`v6-${id}.example.com`]: { AAAA: ["::ffff:169.254.169.254"] },
      [`shared-${id}.example.com`]: { A: ["100.64.1.1"] },
      [`broken-${id}.example.com`]: "SERVFAIL",
    });
    expect(await webhookTargetProblem(`https://public-${id}.example.com/x`, strict, resolve)).toBeUndefined();
    expect(await webhookTargetProblem(`https://rebound-${id}.example.com./x`, strict, resolve)).toBe(
      "resolves to 127.0.0.1, a non-public address",
    );
    expect(await webhookTargetProblem(`https://v6-${id}.example.com/x`, strict, resolve)).toBe(
      "resolves to ::ffff:169.254.169.254, a non-public address",
    );
    expect(await webhookTargetProblem(`https://shared-${id}.example.com/x`, strict, resolve)).toMatch(
      /resolves to 100\.64\.1\.1/,
    );
    // No address is not a verdict (the receiver's DNS may be down for a while): the caller retries.
    await expect(webhookTargetProblem(`https://nowhere-${id}.example.com/x`, strict, resolve)).rejects.toThrow(
      NoAddressError,
    );
    // A resolver that cannot tell is not taken for "no address": the caller retries later.
    await expect(webhookTargetProblem(`https://broken-${id}.example.com/x`, strict, resolve)).rejects.toThrow(
      /could not resolve/,
    );
    // The static rules come first: nothing is looked up for a refused URL or a literal address.
    const asked = (await (await fetch(`${testEnv.CONTROL_URL}/dns/queries`)).json()) as string[];
    expect(await webhookTargetProblem("https://localhost/x", strict, resolve)).toBe(LOCAL_NAME);
    expect(await webhookTargetProblem("https://93.184.215.14/x", strict, resolve)).toBeUndefined();
    expect(((await (await fetch(`${testEnv.CONTROL_URL}/dns/queries`)).json()) as string[]).length).toBe(asked.length);
    expect(asked).toContain(`rebound-${id}.example.com`);
  });
});
