import { describe, expect, it } from "vitest";
import type { ReceiverResult } from "../../src/notifications/webhook-request.ts";
import { challengeFailure } from "../../src/notifications/webhook-verification.ts";

const CHALLENGE = "6f0c7a52-1d0e-4f4b-9d7e-2b1f0c3a8e11";
const answered = (status: number, body: string | undefined): ReceiverResult => ({ kind: "answered", status, body });

describe("challengeFailure (a receiver's consent to webhook deliveries)", () => {
  it("accepts a 2xx whose JSON body echoes the challenge, whatever else it holds", () => {
    expect(challengeFailure(answered(200, JSON.stringify({ challenge: CHALLENGE })), CHALLENGE)).toBeUndefined();
    expect(
      challengeFailure(answered(202, JSON.stringify({ ok: true, challenge: CHALLENGE })), CHALLENGE),
    ).toBeUndefined();
  });

  it("refuses a 2xx that does not echo it: another value, no JSON, JSON null, an empty body", () => {
    for (const body of [JSON.stringify({ challenge: "something else" }), "ok", "null", "", JSON.stringify(CHALLENGE)]) {
      expect(challengeFailure(answered(200, body), CHALLENGE), body).toBe("the endpoint did not echo the challenge");
    }
  });

  it("names a redirect as not followed, and any other status by its code", () => {
    expect(challengeFailure(answered(307, ""), CHALLENGE)).toBe(
      "the endpoint answered 307; redirects are not followed",
    );
    expect(challengeFailure(answered(500, JSON.stringify({ challenge: CHALLENGE })), CHALLENGE)).toBe(
      "the endpoint answered 500",
    );
  });

  it("refuses an answer too large to have been read", () => {
    expect(challengeFailure(answered(200, undefined), CHALLENGE)).toBe("the endpoint's answer is too large");
  });

  it("passes on our own reason when nothing answered, never the runtime's words", () => {
    const result: ReceiverResult = {
      kind: "unreachable",
      reason: "the endpoint could not be reached",
      cause: new Error("connect ECONNREFUSED 203.0.113.9:443"),
    };
    expect(challengeFailure(result, CHALLENGE)).toBe("the endpoint could not be reached");
  });
});
