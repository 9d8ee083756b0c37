/**
 * The user's query text. Syntax is the web-search style Postgres's `websearch_to_tsquery` reads:
 * words (all required), "quoted phrases", `OR` between alternatives, `-word` to exclude.
 */

/** One form per query for caching and analytics: trimmed, spaces collapsed, lower-cased (OR is case-insensitive). */
export function normalizeQuery(text: string): string {
  return text.trim().replace(/\s+/g, " ").toLowerCase();
}

/**
 * The words a query requires (not excluded, not `or`), in order, for "did you mean": each may be
 * replaced by a correction.
 */
export function requiredWords(text: string): string[] {
  const words: string[] = [];
  for (const match of text.matchAll(/(-?)"([^"]*)"|(-?)([\p{L}\p{N}][\p{L}\p{N}'-]*)/gu)) {
    const [, phraseNegated, phrase, wordNegated, word] = match;
    if (phrase !== undefined) {
      if (!phraseNegated) words.push(...(phrase.match(/[\p{L}\p{N}][\p{L}\p{N}'-]*/gu) ?? []));
    } else if (word !== undefined && !wordNegated && word.toLowerCase() !== "or") {
      words.push(word);
    }
  }
  return words.map((word) => word.toLowerCase());
}

/** The query with each whole-word occurrence of a key of `corrections` replaced by its value. */
export function applyCorrections(text: string, corrections: Map<string, string>): string {
  return text.replace(/[\p{L}\p{N}][\p{L}\p{N}'-]*/gu, (word) => corrections.get(word.toLowerCase()) ?? word);
}

const escapeHtml = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

/**
 * A highlight from the database as safe HTML on one line: the text escaped, runs of white space
 * (line breaks, the gaps where Postgres's parser dropped tag-like tokens) made one space, the match
 * markers turned into `<mark>` elements. Nothing of the document's text can become markup.
 */
export function highlightHtml(raw: string, start: string, stop: string): string {
  return escapeHtml(raw.replace(/\s+/g, " ").trim()).replaceAll(start, "<mark>").replaceAll(stop, "</mark>");
}
