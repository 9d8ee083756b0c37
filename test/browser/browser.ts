import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { AxeBuilder } from "@axe-core/playwright";
import { type Browser, chromium, type LaunchOptions, type Page } from "playwright-core";
import { afterAll, beforeAll, expect } from "vitest";
import { ROOT } from "../../stack/wrangler.ts";

// Shared by the browser tests (vitest project `browser`): the pages the API worker serves, opened
// in a real Chromium (Debian's, driven by playwright-core, which downloads no browser of its own),
// watched for what would break them in production: a Content-Security-Policy violation, a console
// error, an uncaught exception, a failed request; then checked by axe-core and photographed.

export const CHROMIUM_INSTALL_HINT =
  "No Chromium for the browser tests: apt-get install chromium (or set CHROMIUM_PATH to a Chromium or Chrome binary)";

/** Where each page's full-page screenshot goes (git-ignored; CI keeps test-results/ as an artifact). */
export const SCREENSHOTS = path.join(ROOT, "test-results/screenshots");

/** How long `expect.poll` waits for a page to get somewhere (vitest's default, 1 s, is too short on a busy machine). */
export const POLL = { timeout: 15_000 } as const;

/** A phone's viewport (an iPhone 13/14's CSS pixels). */
export const PHONE = { width: 390, height: 844 } as const;

/** `CHROMIUM_PATH` when set, else `chromium` (Debian's package) or `chromium-browser` on the PATH. */
export function findChromium(): string | undefined {
  const configured = process.env.CHROMIUM_PATH;
  if (configured) return existsSync(configured) ? configured : undefined;
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    for (const name of ["chromium", "chromium-browser"]) {
      const candidate = path.join(dir, name);
      if (dir && existsSync(candidate)) return candidate;
    }
  }
  return undefined;
}

/** How to launch headless Chromium; throws {@link CHROMIUM_INSTALL_HINT} when there is none. */
export function chromiumLaunchOptions(): LaunchOptions {
  const executablePath = findChromium();
  if (!executablePath) throw new Error(CHROMIUM_INSTALL_HINT);
  return {
    executablePath,
    headless: true,
    // Chromium refuses to start as root with its sandbox on (CI and these machines run as root).
    args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
  };
}

/** Launches headless Chromium; throws {@link CHROMIUM_INSTALL_HINT} when there is none. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch(chromiumLaunchOptions());
}

/**
 * One Chromium for the test file: launched before its tests, closed after them. Read `.browser`
 * inside a test or hook.
 */
export function useChromium(): { readonly browser: Browser } {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });
  return {
    get browser() {
      if (!browser) throw new Error("Chromium is not running (useChromium's beforeAll failed)");
      return browser;
    },
  };
}

/** What went wrong on a page while it was open; each entry one line. */
export interface PageProblems {
  /** `securitypolicyviolation` events: the directive and what it blocked. */
  cspViolations: string[];
  /** `console.error` lines, and the browser's own (failed loads, refused resources). */
  consoleErrors: string[];
  /** Exceptions no script caught. */
  pageErrors: string[];
  /** Requests that failed or answered 4xx/5xx. */
  failedRequests: string[];
}

export interface OpenedPage {
  page: Page;
  problems: PageProblems;
}

/**
 * Reports every `securitypolicyviolation` to the test. Runs before the page's own scripts, through
 * the DevTools protocol, which the page's Content-Security-Policy does not govern; a string, since
 * this program is type-checked without the DOM's types.
 */
const REPORT_CSP_VIOLATIONS = `
document.addEventListener("securitypolicyviolation", (event) => {
  globalThis.__reportCspViolation(
    event.effectiveDirective + " refused " + (event.blockedURI || "an inline resource") +
      " (" + (event.sourceFile || event.documentURI) + ":" + event.lineNumber + ")",
  );
});
`;

/**
 * Opens `url` in a new browser context (its own cookies and storage) at `viewport`, collecting
 * {@link PageProblems} from before the first byte, and waits until the network is idle.
 */
export async function openPage(
  browser: Browser,
  url: string,
  viewport: { width: number; height: number } = { width: 1280, height: 900 },
): Promise<OpenedPage> {
  const phone = viewport.width < 600;
  const context = await browser.newContext({
    viewport,
    ...(phone ? { isMobile: true, hasTouch: true, deviceScaleFactor: 2 } : {}),
  });
  const page = await context.newPage();
  const problems: PageProblems = { cspViolations: [], consoleErrors: [], pageErrors: [], failedRequests: [] };
  await page.exposeFunction("__reportCspViolation", (line: string) => problems.cspViolations.push(line));
  await page.addInitScript({ content: REPORT_CSP_VIOLATIONS });
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const { url: source, lineNumber } = message.location();
    problems.consoleErrors.push(`${message.text()}${source ? ` (${source}:${lineNumber})` : ""}`);
  });
  page.on("pageerror", (error) => problems.pageErrors.push(error.stack ?? error.message));
  page.on("requestfailed", (request) => {
    const reason = request.failure()?.errorText ?? "failed";
    // A navigation cancels what the page it leaves was still loading (an icon, a poll): not a failure.
    if (reason === "net::ERR_ABORTED") return;
    problems.failedRequests.push(`${request.method()} ${request.url()}: ${reason}`);
  });
  page.on("response", (response) => {
    if (response.status() >= 400) {
      problems.failedRequests.push(`${response.request().method()} ${response.url()}: ${response.status()}`);
    }
  });
  const response = await page.goto(url, { waitUntil: "networkidle" });
  expect(response?.status(), `GET ${url}`).toBe(200);
  return { page, problems };
}

/** A console error a library logs that we cannot prevent, and why it is harmless. */
export interface KnownConsoleError {
  pattern: RegExp;
  why: string;
}

/** Fails the test with every problem the page had, if it had any (but the known console errors). */
export function expectNoProblems(problems: PageProblems, known: KnownConsoleError[] = []): void {
  expect(problems.cspViolations, "Content-Security-Policy violations").toEqual([]);
  const consoleErrors = problems.consoleErrors.filter((line) => !known.some(({ pattern }) => pattern.test(line)));
  expect(consoleErrors, "console errors").toEqual([]);
  expect(problems.pageErrors, "uncaught exceptions").toEqual([]);
  expect(problems.failedRequests, "failed requests").toEqual([]);
}

/** A rule's violations left out of the accessibility check, and why: a defect of a library we cannot fix. */
export interface AxeExclusion {
  /** The rule (axe-core's id). */
  rule: string;
  /** A CSS selector that the offending elements match, as narrow as the defect allows. */
  selector: string;
  why: string;
}

/**
 * Runs axe-core on the page as it is now (WCAG 2.0–2.2 A and AA, and axe's best practices) and fails
 * on any violation, whatever its impact, except an exclusion's rule on the elements its selector
 * matches. `within` limits the check to the part of the page a test just changed (the whole page is
 * checked once elsewhere). axe is injected through the DevTools protocol, which the page's
 * Content-Security-Policy does not govern, so the check adds no violation of its own.
 */
export async function expectAccessible(
  page: Page,
  options: { exclusions?: AxeExclusion[]; within?: string[] } = {},
): Promise<void> {
  const { exclusions = [], within = [] } = options;
  let axe = new AxeBuilder({ page }).withTags([
    "wcag2a",
    "wcag2aa",
    "wcag21a",
    "wcag21aa",
    "wcag22aa",
    "best-practice",
  ]);
  for (const selector of within) axe = axe.include(selector);
  const results = await axe.analyze();
  const excluded = async (rule: string, target: string) => {
    for (const exclusion of exclusions.filter((candidate) => candidate.rule === rule)) {
      const matches = await page.evaluate(
        `document.querySelector(${JSON.stringify(target)})?.matches(${JSON.stringify(exclusion.selector)}) ?? false`,
      );
      if (matches === true) return true;
    }
    return false;
  };
  const violations: string[] = [];
  for (const violation of results.violations) {
    const nodes: string[] = [];
    for (const node of violation.nodes) {
      const target = node.target.map(String).join(" ");
      if (!(await excluded(violation.id, target))) nodes.push(target);
    }
    if (nodes.length === 0) continue;
    const shown = nodes.slice(0, 5).join(" | ");
    violations.push(`${violation.impact ?? "?"} ${violation.id}: ${violation.help} (${nodes.length}: ${shown})`);
  }
  expect(violations, "axe-core violations").toEqual([]);
}

/** Saves a full-page screenshot as test-results/screenshots/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
