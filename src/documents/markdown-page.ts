import { decodeHTMLAttribute } from "entities/decode";
import MarkdownIt from "markdown-it";
import { IMAGE_SCHEMES, LINK_SCHEMES } from "./convert.ts";

// The Markdown renderer behind `markdownToHtml` (./convert.ts), which imports this module on its
// first call: markdown-it and entities' decoding tables cost the worker's startup otherwise.

const escapeHtml = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

// Relative references are resolved against a page of the platform, which is served over https.
const PAGE = "https://platform.invalid/documents/page";

/**
 * The URL a Markdown link or image destination becomes in HTML, or null when its scheme is not one
 * of `schemes`. The destination is read as a browser will read the attribute: character references
 * decoded (CommonMark 0.31 §2.5 recognises them in destinations; `&#106;avascript:` and `java&Tab;script:`
 * included), percent-encoded (`encodeURI`, keeping existing escapes), then parsed by the WHATWG URL parser, which like the
 * browser ignores tabs and line breaks anywhere and control characters and spaces at either end and
 * lower-cases the scheme. A reference without a scheme (relative, `//host`, `#fragment`) takes the
 * page's https. Both the decoded destination and the string returned must pass; the string
 * returned is what the browser will read once it is escaped for the attribute.
 */
export function safeUrl(destination: string, schemes: ReadonlySet<string>): string | null {
  try {
    const decoded = decodeHTMLAttribute(destination);
    const url = encodeURI(decoded).replaceAll("%25", "%");
    // Percent-encoding can turn `java\tscript:` into a harmless relative path; refused all the same.
    return [decoded, url].every((candidate) => schemes.has(new URL(candidate, PAGE).protocol)) ? url : null;
  } catch {
    // encodeURI refuses a lone surrogate; URL refuses what no browser would follow either.
    return null;
  }
}

const titleAttribute = (title: string | null | undefined) =>
  title ? ` title="${escapeHtml(decodeHTMLAttribute(title))}"` : "";

// Raw HTML inside Markdown is shown as text, never passed through; links and images keep only URLs
// of safe schemes (a refused link is its text, a refused image its alternative text): the result
// is safe to render. markdown-it, with GFM's tables, strikethrough and autolinks: its time grows
// linearly with the source (marked's grew with the square of runs like `a_a_a_…`, seconds for
// 64 KB, and overflowed the stack on deeply nested quotes: OWASP API4:2023).
const markdown = new MarkdownIt({ html: false, linkify: true, xhtmlOut: false });
// Every destination reaches the renderer as written (entities and escapes decoded by the parser),
// where `safeUrl` alone decides: markdown-it's own filter would leave a refused link's source as text.
markdown.validateLink = () => true;
markdown.normalizeLink = (url) => url;
const rules = markdown.renderer.rules;
/** Whether each open link was refused, so that its closing tag is dropped with it. */
const LINK_REFUSED = "refused";
rules.link_open = (tokens, index) => {
  const token = tokens[index];
  const url = token ? safeUrl(token.attrGet("href") ?? "", LINK_SCHEMES) : null;
  if (!token || url === null) {
    if (token) token.meta = { ...token.meta, [LINK_REFUSED]: true };
    return "";
  }
  return `<a href="${escapeHtml(url)}"${titleAttribute(token.attrGet("title"))}>`;
};
rules.link_close = (tokens, index) => {
  // The matching opener is the nearest earlier link_open at the same level.
  const close = tokens[index];
  for (let at = index - 1; at >= 0; at -= 1) {
    const open = tokens[at];
    if (open?.type === "link_open" && open.level === close?.level) return open.meta?.[LINK_REFUSED] ? "" : "</a>";
  }
  return "</a>";
};
rules.image = (tokens, index, options, env, self) => {
  const token = tokens[index];
  if (!token) return "";
  const alt = escapeHtml(self.renderInlineAsText(token.children ?? [], options, env));
  const url = safeUrl(token.attrGet("src") ?? "", IMAGE_SCHEMES);
  return url === null ? alt : `<img src="${escapeHtml(url)}" alt="${alt}"${titleAttribute(token.attrGet("title"))}>`;
};

/** Markdown to a standalone HTML page. */
export function renderMarkdownPage(source: string, title: string): string {
  const body = markdown.render(source);
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body>\n${body}</body></html>\n`;
}
