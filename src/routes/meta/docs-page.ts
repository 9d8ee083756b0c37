import { html, raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import { PROBLEMS } from "../../pkg/errors/api-error.ts";
import type { ApiDocument } from "./api-document.ts";

type PathItem = NonNullable<NonNullable<ApiDocument["paths"]>[string]>;
type Operation = NonNullable<PathItem["get"]>;

/** Referenced parts (`$ref`) are shown by name; everything this API generates is inline or a schema ref. */
const resolved = <U extends object>(value: U | undefined): Exclude<U, { $ref: string }> | undefined =>
  value && !("$ref" in value) ? (value as Exclude<U, { $ref: string }>) : undefined;

const METHODS = ["get", "post", "put", "patch", "delete"] as const;

const schemaText = (schema: unknown) => JSON.stringify(schema, null, 2);

function operationHtml(method: string, path: string, op: Operation): HtmlEscapedString | Promise<HtmlEscapedString> {
  const anchor = `${method}-${path.replace(/[^\w]+/g, "-")}`;
  const parameters = (op.parameters ?? []).flatMap((p) => resolved(p) ?? []);
  const body = resolved(op.requestBody);
  return html`<section class="op" id="${anchor}">
    <h3><span class="method ${method}">${method.toUpperCase()}</span> <code>${path}</code></h3>
    ${op.summary ? html`<p class="summary">${op.summary}</p>` : ""}
    ${op.description ? html`<p>${op.description}</p>` : ""}
    ${
      parameters.length
        ? html`<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>required</th><th>schema</th></tr>${parameters.map(
            (p) =>
              html`<tr><td><code>${p.name}</code></td><td>${p.in}</td><td>${p.required ? "yes" : "no"}</td><td><code>${schemaText(p.schema)}</code></td></tr>`,
          )}</table>`
        : ""
    }
    ${
      body?.content
        ? html`<h4>Request body</h4>${Object.entries(body.content).map(
            ([type, media]) => html`<p><code>${type}</code></p><pre>${schemaText(media.schema)}</pre>`,
          )}`
        : ""
    }
    <h4>Responses</h4>
    <table>
      ${Object.entries(op.responses ?? {}).map(([status, entry]) => {
        const response = resolved(
          entry as { description?: string; content?: Record<string, { schema?: unknown }> } | { $ref: string },
        );
        return html`<tr><td><strong>${status}</strong></td><td>${response?.description ?? ""}${Object.entries(
          response?.content ?? {},
        ).map(([type, media]) => html`<br /><code>${type}</code> <code>${schemaText(media.schema)}</code>`)}</td></tr>`;
      })}
    </table>
  </section>`;
}

/**
 * A server-rendered API reference. It needs no script or inline style, so it works under the
 * platform's `Content-Security-Policy: default-src 'self'`, which hosted viewers (Swagger UI,
 * Scalar) loading from a CDN would break.
 */
export function renderDocsPage(doc: ApiDocument) {
  const operations = Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
    METHODS.flatMap((method) => {
      const op = item?.[method];
      return op ? [{ method, path, op, tag: op.tags?.[0] ?? "Other" }] : [];
    }),
  );
  const tags = [...new Set(operations.map((o) => o.tag))];
  return html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>${doc.info.title} — API reference</title>
    <link rel="stylesheet" href="/docs/style.css" />
  </head>
  <body>
    <header>
      <h1>${doc.info.title} <small>${doc.info.version}</small></h1>
      ${doc.info.description ? html`<p>${doc.info.description}</p>` : ""}
      <p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
    </header>
    <nav>
      ${tags.map(
        (tag) =>
          html`<h2>${tag}</h2><ul>${operations
            .filter((o) => o.tag === tag)
            .map(
              (o) =>
                html`<li><a href="#${o.method}-${o.path.replace(/[^\w]+/g, "-")}">${o.method.toUpperCase()} ${o.path}</a></li>`,
            )}</ul>`,
      )}
      <h2>Problems</h2>
      <ul>${Object.keys(PROBLEMS).map((code) => html`<li><a href="#problem-${code}">${code}</a></li>`)}</ul>
    </nav>
    <main>
      ${tags.map((tag) => html`<h2>${tag}</h2>${operations.filter((o) => o.tag === tag).map((o) => operationHtml(o.method, o.path, o.op))}`)}
      <h2>Problem types</h2>
      <p>Every error is <code>application/problem+json</code> (RFC 9457) with <code>type</code>, <code>title</code>, <code>status</code>, <code>detail</code>, <code>instance</code> and <code>requestId</code>.</p>
      <table>
        ${Object.entries(PROBLEMS).map(
          ([code, p]) =>
            html`<tr id="problem-${code}"><td><code>/problems/${code}</code></td><td>${p.status}</td><td>${p.title}</td><td>${p.description}</td></tr>`,
        )}
      </table>
    </main>
  </body>
</html>`;
}

export const DOCS_CSS =
  raw(`body{font:15px/1.5 system-ui,sans-serif;margin:0;display:grid;grid-template-columns:18rem 1fr;color:#1d2430}
header{grid-column:1/3;padding:1rem 2rem;background:#10243e;color:#fff}header a{color:#9cd2ff}
nav{padding:1rem;border-right:1px solid #dde3ea;font-size:13px;position:sticky;top:0;align-self:start;max-height:100vh;overflow:auto}
nav ul{list-style:none;padding:0}main{padding:1rem 2rem;max-width:70rem}
.op{border:1px solid #dde3ea;border-radius:6px;padding:0 1rem 1rem;margin:1rem 0}
.method{display:inline-block;min-width:4.5rem;text-align:center;border-radius:4px;color:#fff;font-size:12px;padding:2px 6px}
.get{background:#1f7a4d}.post{background:#1f5fa8}.put,.patch{background:#a86b1f}.delete{background:#a8321f}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eef1f4;padding:4px 6px;text-align:left;vertical-align:top}
pre,code{font-size:12px;white-space:pre-wrap;word-break:break-word}`);
