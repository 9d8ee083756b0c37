import { afterEach, describe, expect, it, vi } from "vitest";
import { apiWith, captureLines } from "../helpers.ts";

afterEach(() => vi.restoreAllMocks());

/** A body that sends `head` and then errors: a client that goes away mid-request. */
function brokenBody(head: string): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent) return controller.error(new Error("the client went away"));
      controller.enqueue(new TextEncoder().encode(head));
      sent = true;
    },
  });
}

// The upload path has its own tests (upload-details.test.ts); this is every other body we read.
describe("a request body that breaks off is the client's failure", () => {
  const bodies = [
    { type: "application/x-www-form-urlencoded", head: "grant_type=password&username=ada&pass" },
    { type: "application/json", head: '{"grant_type":"password","username":"ada","pass' },
  ];

  it("the token endpoint answers 400 invalid_request, logged as a warning, with or without Content-Length", async () => {
    for (const { type, head } of bodies) {
      for (const length of [undefined, "4096"]) {
        let res: Response | undefined;
        const lines = await captureLines(async () => {
          res = await apiWith({ LOG_LEVEL: "info" }, "/auth/token", {
            method: "POST",
            headers: {
              "content-type": type,
              "cf-connecting-ip": "10.77.0.1",
              ...(length ? { "content-length": length } : {}),
            },
            body: brokenBody(head),
            duplex: "half",
          } as RequestInit);
        });
        const label = `${type}, content-length ${length}`;
        expect(res?.status, label).toBe(400);
        expect(res?.headers.get("content-type"), label).toBe("application/json");
        const body = (await res?.json()) as { error: string; detail: string; type: string };
        expect(body, label).toMatchObject({
          error: "invalid_request",
          type: "/problems/bad_request",
          detail: "The request body ended before it was complete.",
        });
        expect(
          lines.filter((line) => line.level === "error"),
          label,
        ).toEqual([]);
        expect(
          lines.find((line) => line.message === "the request body broke off"),
          label,
        ).toMatchObject({
          level: "warn",
        });
      }
    }
  });
});
