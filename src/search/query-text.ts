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

// A Map, not an object literal: a key read from text must never reach Object.prototype.
const REFERENCES = new Map([
  ["&amp;", "&"],
  ["&lt;", "<"],
  ["&gt;", ">"],
]);

/**
 * A highlight from the database as safe HTML on one line. `raw` is HTML text whose `&`, `<` and `>`
 * are escaped, with matches between `start` and `stop` (see `hitDetails`). It is read back to
 * plain text and escaped again, so that whatever Postgres did to it the result is well-formed;
 * each `start` … `stop` pair becomes a `<mark>` element; any other marker or control character
 * and any run of white space becomes one space. Nothing of the document's text can become
 * markup, and every `<mark>` is closed.
 */
export function highlightHtml(raw: string, start: string, stop: string): string {
  const text = raw.replace(/&(?:amp|lt|gt);/g, (reference) => REFERENCES.get(reference) ?? reference);
  const [before = "", ...marked] = escapeHtml(text).split(start);
  const parts = [before.replaceAll(stop, "")];
  for (const part of marked) {
    const end = part.indexOf(stop);
    parts.push(
      end < 0 ? part : `<mark>${part.slice(0, end)}</mark>${part.slice(end + stop.length).replaceAll(stop, "")}`,
    );
  }
  return parts
    .join("")
    .replace(/[\s\p{Cc}]+/gu, " ")
    .trim();
}
