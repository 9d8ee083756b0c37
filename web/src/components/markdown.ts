import MarkdownIt from "markdown-it";

/**
 * Markdown for the preview, as the API's own `?format=html` conversion renders it: markdown-it with
 * raw HTML off (any tag in the source is shown as text) and its default link validation (no
 * `javascript:`, `vbscript:`, `file:` or non-image `data:` URLs). Links open in a new tab without
 * the opener. Images from other origins are not loaded: the page's CSP allows only its own.
 */
const markdown = new MarkdownIt({ html: false, linkify: true });
const defaultLinkOpen =
  markdown.renderer.rules.link_open ??
  ((tokens, index, options, _env, self) => self.renderToken(tokens, index, options));
markdown.renderer.rules.link_open = (tokens, index, options, env, self) => {
  tokens[index]?.attrSet("rel", "noopener noreferrer");
  tokens[index]?.attrSet("target", "_blank");
  return defaultLinkOpen(tokens, index, options, env, self);
};

export const renderMarkdown = (source: string) => markdown.render(source);
