import type { Page } from "playwright-core";
import { describe, expect, inject, it } from "vitest";
import {
  type AxeExclusion,
  expectAccessible,
  expectNoProblems,
  type KnownConsoleError,
  openPage,
  PHONE,
  POLL,
  screenshot,
  useChromium,
} from "./browser.ts";

// The API reference at /docs: Swagger UI (web/docs), built by Vite into files of our own origin,
// reading /openapi.json, under the platform's `Content-Security-Policy: default-src 'self'`.

const chromium = useChromium();
const base = inject("apiUrl");

/**
 * What axe finds in Swagger UI that web/docs cannot change (each other finding is fixed there: its
 * colours, landmarks, headings, deep links and file inputs).
 */
const SWAGGER_UI: AxeExclusion[] = [
  {
    rule: "landmark-unique",
    selector: 'table.responses-table[role="region"]',
    why: "Swagger UI gives each open operation's live responses table role=region and no name (its responses component takes no prop for one): two open operations make two unnamed regions alike",
  },
];

/**
 * Swagger UI logs this on loading any deep link whose operation id holds `_` (its deep-linking
 * plugin, parseDeepLinkHash), and the ids it makes up for operations that declare none, as ours do
 * not, always do (`get_problems__code_`). It then opens the operation all the same.
 */
const DEEP_LINK_DEPRECATION: KnownConsoleError = {
  pattern: /^Deprecated: escaping deep link whitespace with `_` is unsupported/,
  why: "Swagger UI's own warning about the operation ids it generates",
};

interface Document {
  paths: Record<string, Record<string, unknown>>;
}

/** An operation's block, and a CSS selector of it (for axe's `within`). */
const operationSelector = (method: string, path: string) =>
  `.opblock-${method}:has(.opblock-summary-path[data-path="${path}"])`;
const operation = (page: Page, method: string, path: string) => page.locator(operationSelector(method, path));

/** A schema of the Schemas section by name: Swagger UI's JSON Schema 2020-12 view (OpenAPI 3.1). */
const schema = (page: Page, name: string) =>
  page.locator("section.models article[data-json-schema-level='0']").filter({
    has: page.locator(":scope > .json-schema-2020-12-head .json-schema-2020-12__title", {
      hasText: new RegExp(`^${name}$`),
    }),
  });

describe("the API reference (/docs)", () => {
  it("renders every operation of /openapi.json, GET /documents among them, and its Markdown", async () => {
    const document = (await (await fetch(`${base}/openapi.json`)).json()) as Document;
    const operations = Object.values(document.paths).reduce((sum, item) => sum + Object.keys(item).length, 0);
    const { page, problems } = await openPage(chromium.browser, `${base}/docs`);
    await operation(page, "get", "/documents").waitFor();
    expect(await page.locator(".opblock").count()).toBe(operations);
    // The API's description is Markdown: its `code` spans are rendered as such.
    const description = page.locator(".info .renderedMarkdown code", { hasText: "application/problem+json" });
    expect(await description.count()).toBe(1);
    expectNoProblems(problems);
    await expectAccessible(page, { exclusions: SWAGGER_UI });
    await screenshot(page, "docs");
  });

  it("expands a schema and the one its $ref names", async () => {
    const { page, problems } = await openPage(chromium.browser, `${base}/docs`);
    const problem = schema(page, "Problem");
    await problem.locator(":scope > .json-schema-2020-12-head .json-schema-2020-12-accordion").click();
    await expect.poll(() => problem.textContent(), POLL).toContain("requestId");
    // `errors` is an array of FieldError ($ref): its items open with FieldError's own members.
    const errors = problem.locator(".json-schema-2020-12-property").filter({
      has: page.locator(".json-schema-2020-12__title", { hasText: /^errors$/ }),
    });
    await errors.locator(".json-schema-2020-12-accordion").first().click();
    await errors.locator(".json-schema-2020-12-keyword--items .json-schema-2020-12-accordion").first().click();
    await expect.poll(() => errors.textContent(), POLL).toContain("pointer");
    expectNoProblems(problems);
    await expectAccessible(page, { exclusions: SWAGGER_UI, within: ["section.models"] });
  });

  it("opens an operation with a deep link in the address bar, and tries it out", async () => {
    const { page, problems } = await openPage(chromium.browser, `${base}/docs`);
    const health = operation(page, "get", "/health");
    await health.locator(".opblock-summary-control").click();
    await expect.poll(() => new URL(page.url()).hash, POLL).toBe("#/System/get_health");
    // tryItOutEnabled: the form is open at once; Execute sends the request from the page.
    await health.locator("button.execute").click();
    const body = health.locator(".live-responses-table .response-col_description pre");
    await expect.poll(() => body.first().textContent(), POLL).toContain('"status": "ok"');
    // A multipart body's form (its file input among the fields axe checks).
    await operation(page, "post", "/documents").locator(".opblock-summary-control").click();
    await operation(page, "post", "/documents").locator('input[type="file"]').waitFor();
    expectNoProblems(problems);
    await expectAccessible(page, {
      exclusions: SWAGGER_UI,
      within: [operationSelector("get", "/health"), operationSelector("post", "/documents")],
    });
    await screenshot(page, "docs-try-it-out");
  });

  it("opens the operation a deep link names, with the problem types' table from its Markdown", async () => {
    const { page, problems } = await openPage(chromium.browser, `${base}/docs#/Meta/get_problems__code_`);
    const table = operation(page, "get", "/problems/{code}").locator(".opblock-description-wrapper table");
    await expect.poll(() => table.locator("tbody tr").count(), POLL).toBeGreaterThan(10);
    expect(await table.textContent()).toContain("validation_failed");
    expectNoProblems(problems, [DEEP_LINK_DEPRECATION]);
    await expectAccessible(page, { exclusions: SWAGGER_UI, within: [operationSelector("get", "/problems/{code}")] });
  });

  it("fits a phone's width (390 × 844) and stays accessible", async () => {
    const { page, problems } = await openPage(chromium.browser, `${base}/docs`, PHONE);
    await page.locator(".opblock").first().waitFor();
    expectNoProblems(problems);
    await expectAccessible(page, { exclusions: SWAGGER_UI });
    await screenshot(page, "docs-phone");
  });
});
