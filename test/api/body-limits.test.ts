import { describe, expect, it } from "vitest";
import { MAX_PARSED_BODY_BYTES } from "../../src/gateway/json-body-limit.ts";
import { signedIn } from "../auth-helpers.ts";
import { created, rawUpload } from "../document-helpers.ts";
import { api, expectProblem } from "../helpers.ts";

const oversized = JSON.stringify({ title: "x".repeat(MAX_PARSED_BODY_BYTES) });

// JSON bodies are read whole before validation; a 110 MB one was buffered and parsed in an isolate
// of 128 MB before its title was found too long.
describe("JSON and form bodies have a size limit", () => {
  it("answers 413 when Content-Length says the body is too large, or as it streams past the limit", async () => {
    const { auth } = await signedIn();
    const doc = await created(rawUpload(auth, "limits", "text/plain"));
    const patch = (body: BodyInit, headers: Record<string, string> = {}) =>
      api(`/documents/${doc.id}`, {
        method: "PATCH",
        headers: { ...auth, "content-type": "application/json", ...headers },
        body,
        duplex: "half",
      } as RequestInit);
    await expectProblem(await patch(oversized, { "content-length": String(oversized.length) }), 413);
    // Without a length: a stream that would go on for 1 MiB is cut at the limit.
    const chunk = new TextEncoder().encode("x".repeat(16 * 1024));
    let sent = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 0) controller.enqueue(new TextEncoder().encode('{"title":"'));
        if (sent++ >= 64) return controller.close();
        controller.enqueue(chunk);
      },
    });
    await expectProblem(await patch(endless), 413);
    expect(sent).toBeLessThan(64);
    await expectProblem(
      await api("/users/me", {
        method: "PATCH",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ preferences: { big: "y".repeat(MAX_PARSED_BODY_BYTES) } }),
      }),
      413,
    );
  });

  it("documents the 413 on every operation that takes a JSON body", async () => {
    const document = (await (await api("/openapi.json")).json()) as {
      paths: Record<string, Record<string, { requestBody?: { content?: object }; responses: object }>>;
    };
    const missing = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([, op]) => Object.keys(op.requestBody?.content ?? {}).includes("application/json"))
        .filter(([, op]) => !("413" in op.responses))
        .map(([method]) => `${method} ${path}`),
    );
    expect(missing).toEqual([]);
    expect(document.paths["/documents/{id}"]?.patch?.responses).toHaveProperty("413");
  });
});

// RFC 8259 §8.1: JSON text is UTF-8. A lenient decoder stored U+FFFD in place of the bytes sent, and
// a form's percent-encoded bytes that are not UTF-8 (`%E9`) decoded to U+FFFD the same way.
describe("JSON and form bodies are UTF-8", () => {
  it("refuses a JSON body with bytes that are not UTF-8 (400), and keeps the document as it was", async () => {
    const { auth } = await signedIn();
    const doc = await created(rawUpload(auth, "utf8", "text/plain"));
    const bytes = new Uint8Array([
      ...new TextEncoder().encode('{"title":"'),
      0xff,
      0xfe,
      ...new TextEncoder().encode('"}'),
    ]);
    const res = await api(`/documents/${doc.id}`, {
      method: "PATCH",
      headers: { ...auth, "content-type": "application/json" },
      body: bytes,
    });
    expect((await expectProblem(res, 400)).detail).toMatch(/not UTF-8/);
    const after = (await (await api(`/documents/${doc.id}`, { headers: auth })).json()) as { title: string };
    expect(after.title).toBe(doc.title);
    // A U+FFFD the client sent is a character like any other.
    const sent = await api(`/documents/${doc.id}`, {
      method: "PATCH",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ title: "a \uFFFD b" }),
    });
    expect(sent.status).toBe(200);
  });

  it("refuses a form whose percent-encoded bytes are not UTF-8, and takes %EF%BF%BD (U+FFFD) as sent", async () => {
    const form = (body: string) =>
      api("/auth/token", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body,
      });
    const refused = await form("grant_type=password&username=%E9&password=x");
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { detail: string }).detail).toMatch(/percent-encoded bytes are not UTF-8/);
    // Valid UTF-8 (U+FFFD itself among it) reaches the grant, which refuses the credentials.
    const reached = await form("grant_type=password&username=%EF%BF%BD%C3%A9&password=x");
    expect(((await reached.json()) as { error: string }).error).toBe("invalid_grant");
  });
});
