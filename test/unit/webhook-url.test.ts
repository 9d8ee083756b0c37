import { describe, expect, it } from "vitest";
import { addressProblem, type WebhookUrlRules, webhookUrlProblem } from "../../src/notifications/webhook-url.ts";

// The filter is a pure function of the URL and the rules: these run in the test environment with
// the rules production has, inside workerd, whose WHATWG URL parser normalises the host first.
const strict: WebhookUrlRules = { allowLocalReceivers: false };
const local: WebhookUrlRules = { allowLocalReceivers: true };

const NOT_PUBLIC = "must not point to a private, loopback, link-local or otherwise non-public address";
const LOCAL_NAME = "must not point to a local or internal host name";

describe("webhookUrlProblem (server-side request forgery, OWASP API7)", () => {
  it("allows public https hosts, by name or address", () => {
    for (const url of [
      "https://hooks.example.com/x",
      "https://hooks.example.com./x",
      "https://93.184.215.14/x",
      "https://172.32.0.1/x",
      "https://100.128.0.1/x",
      "https://[2606:4700:4700::1111]/x",
      "https://[::ffff:8.8.8.8]/x",
    ]) {
      expect(webhookUrlProblem(url, strict), url).toBeUndefined();
    }
  });

  it("refuses loopback, private, shared, link-local, metadata and reserved addresses in every spelling", () => {
    for (const url of [
      "https://127.0.0.1/x",
      "https://127.1/x",
      "https://2130706433/x",
      "https://0x7f.0.0.1/x",
      "https://0177.0.0.1/x",
      "https://%31%32%37.0.0.1/x",
      "https://0x7f000001/x",
      "https://127.000.000.001/x",
      "https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/x",
      "https://0.0.0.0/x",
      "https://0/x",
      "https://10.0.0.8/x",
      "https://172.16.0.1/x",
      "https://192.168.1.1/x",
      "https://100.64.0.1/x",
      "https://100.127.255.254/x",
      "https://169.254.169.254/latest/meta-data",
      "https://192.0.0.170/x",
      "https://198.18.0.1/x",
      "https://224.0.0.1/x",
      "https://255.255.255.255/x",
      "https://[::1]/x",
      "https://[::]/x",
      "https://[fd00::1]/x",
      "https://[fe80::1]/x",
      "https://[ff02::1]/x",
      // IPv4-mapped, IPv4-compatible, IPv4-translated and NAT64 forms of internal IPv4 addresses.
      "https://[::ffff:127.0.0.1]/x",
      "https://[0:0:0:0:0:ffff:7f00:1]/x",
      "https://[::ffff:169.254.169.254]/x",
      "https://[::ffff:10.1.2.3]/x",
      "https://[::127.0.0.1]/x",
      "https://[::ffff:0:a9fe:a9fe]/x",
      "https://[64:ff9b::169.254.169.254]/x",
      "https://[64:ff9b:1::10.0.0.1]/x",
      // 6to4 and Teredo tunnel to IPv4 addresses; documentation space is nobody's receiver.
      "https://[2002:7f00:1::]/x",
      "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/x",
      "https://[2001:db8::1]/x",
    ]) {
      expect(webhookUrlProblem(url, strict), url).toBe(NOT_PUBLIC);
    }
  });

  it("refuses local and internal names, with or without trailing dots, and single labels", () => {
    for (const url of [
      "https://localhost/x",
      "https://localhost./x",
      "https://LOCALHOST../x",
      "https://api.localhost/x",
      "https://metadata.google.internal/computeMetadata/v1/",
      "https://metadata.google.internal./computeMetadata/v1/",
      "https://db.internal/x",
      "https://printer.local/x",
      "https://nas.home.arpa/x",
      "https://box.localdomain/x",
      "https://metadata/x",
      "https://intranet./x",
    ]) {
      expect(webhookUrlProblem(url, strict), url).toBe(LOCAL_NAME);
    }
  });

  it("requires https, no credentials and an http(s) URL", () => {
    expect(webhookUrlProblem("http://hooks.example.com/x", strict)).toBe("must use https");
    expect(webhookUrlProblem("https://u:p@hooks.example.com/x", strict)).toBe("must not contain credentials");
    expect(webhookUrlProblem("javascript:alert(1)", strict)).toBe("must be an http(s) URL");
    expect(webhookUrlProblem("not a url", strict)).toBe("not a URL");
  });

  it("lets local receivers through only when the rules say so (the local stack's setting)", () => {
    expect(webhookUrlProblem("http://127.0.0.1:8080/hook", local)).toBeUndefined();
    expect(webhookUrlProblem("http://localhost:8080/hook", local)).toBeUndefined();
    expect(webhookUrlProblem("http://127.0.0.1:8080/hook", strict)).toBe("must use https");
    expect(webhookUrlProblem("ftp://127.0.0.1/", local)).toBe("must be an http(s) URL");
    expect(webhookUrlProblem("http://u:p@127.0.0.1/", local)).toBe("must not contain credentials");
  });
});

describe("addressProblem", () => {
  it("judges resolved addresses as URL hosts are judged", () => {
    expect(addressProblem("93.184.215.14")).toBeUndefined();
    expect(addressProblem("2606:4700::6810:84e5")).toBeUndefined();
    expect(addressProblem("10.0.0.1")).toBe(NOT_PUBLIC);
    expect(addressProblem("::ffff:a9fe:a9fe")).toBe(NOT_PUBLIC);
    expect(addressProblem("64:ff9b::7f00:1")).toBe(NOT_PUBLIC);
    expect(addressProblem("not an address")).toBe("is not an IP address");
  });
});
