import { z } from "zod";
import { type Actor, actAs, batchAsActor, READ_ONLY, SYSTEM } from "../db/actor.ts";
import type { HttpDatabase } from "../db/client.ts";
import type { Viewer } from "../db/queries/documents.ts";
import {
  correctionsStatement,
  countMatchesStatement,
  HIGHLIGHT_START,
  HIGHLIGHT_STOP,
  pinningPage,
  readPageDetails,
  readSearchMatches,
  readSuggestedTitles,
  SEARCH_SETTINGS,
  type SearchCursor,
  type SearchFilters,
  type SearchMatchesParams,
  type SearchMatchesRow,
  searchMatchesStatement,
  selectPageDetails,
  selectPopularQueries,
  suggestTagsStatement,
  suggestTitlesStatement,
} from "../db/queries/search.ts";
import type { Document } from "../db/schema/documents.ts";
import { isPostgresTimestampText } from "../pkg/validation/postgres.ts";
import { applyCorrections, highlightHtml, requiredWords } from "./query-text.ts";

export interface SearchRequest {
  /** Normalised query text; undefined browses. */
  text: string | undefined;
  filters: SearchFilters;
  sort: "relevance" | "recent";
  limit: number;
  cursor: SearchCursor | undefined;
}

export interface SearchResult {
  /** Matches, counted up to TOTAL_COUNT_LIMIT: `gte` when there are more. */
  total: number;
  totalRelation: "eq" | "gte";
  data: { document: Document; score: number; highlights: { title: string; content: string | null } }[];
  nextCursor: string | null;
  facets: {
    /** The counts are of a sample of FACET_SAMPLE matches. */
    approximate: boolean;
    tags: { value: string; count: number }[];
    types: { value: string; count: number }[];
    created: { value: string; count: number }[];
    /** Project ids, and `none` for personal documents. */
    projects: { value: string; count: number }[];
  };
  didYouMean: { query: string; total: number } | null;
}

/**
 * What the service runs on: Postgres's HTTP mode (each search step is one `batchAsActor`
 * transaction, one round trip), for `actor`, reading what `viewer` may read.
 */
export interface SearchDeps {
  http: HttpDatabase;
  actor: Actor;
  viewer: Viewer;
}

const TAG_FACETS = 20;

// --- cursors ---

const CursorSchema = z.union([
  z.object({ s: z.literal("relevance"), v: z.string().regex(/^-?\d+(\.\d+)?(e[+-]?\d+)?$/), i: z.uuid() }),
  z.object({ s: z.literal("recent"), c: z.string().max(40), i: z.uuid() }),
]);

/**
 * Whether `score` (a relevance cursor's score, as Postgres printed a `real`) is one Postgres reads
 * back as a `real`: finite in single precision, and not a non-zero value that underflows to zero
 * (both are SQLSTATE 22003 "out of range for type real").
 */
function isFloat4Text(score: string): boolean {
  const single = Math.fround(Number(score));
  if (!Number.isFinite(single)) return false;
  return single !== 0 || /^-?0*(\.0*)?(e[+-]?\d+)?$/.test(score);
}

function encodeCursor(cursor: SearchCursor): string {
  const body =
    cursor.sort === "relevance"
      ? { s: cursor.sort, v: cursor.score, i: cursor.id }
      : { s: cursor.sort, c: cursor.createdAt, i: cursor.id };
  return btoa(JSON.stringify(body)).replace(/=+$/, "").replaceAll("+", "-").replaceAll("/", "_");
}

/** The cursor a client sent back, or undefined when it is not one of ours (or not for this sort). */
export function decodeSearchCursor(
  value: string,
  sort: "relevance" | "recent",
  hasText: boolean,
): SearchCursor | undefined {
  try {
    const parsed = CursorSchema.safeParse(JSON.parse(atob(value.replaceAll("-", "+").replaceAll("_", "/"))));
    if (!parsed.success) return undefined;
    const cursor = parsed.data;
    const expected = sort === "relevance" && hasText ? "relevance" : "recent";
    if (cursor.s !== expected) return undefined;
    if (cursor.s === "relevance") {
      return isFloat4Text(cursor.v) ? { sort: "relevance", score: cursor.v, id: cursor.i } : undefined;
    }
    return isPostgresTimestampText(cursor.c) ? { sort: "recent", createdAt: cursor.c, id: cursor.i } : undefined;
  } catch {
    return undefined;
  }
}

// --- search ---

/** The words of `text` "did you mean" may correct: required, letters (and ' -), 3 to 40 long; at most 6. */
function correctableWords(text: string | undefined): string[] {
  if (text === undefined) return [];
  return [...new Set(requiredWords(text))].filter((word) => /^[\p{L}][\p{L}'-]{2,39}$/u.test(word)).slice(0, 6);
}

/**
 * "Did you mean": each required word no readable document contains is replaced by the closest
 * vocabulary word (trigram similarity) that a readable document does contain; offered only when
 * the corrected query finds something. The vocabulary holds every user's words, so a candidate is
 * only ever offered once the query finds it in a document the user may read. `rows` are those of
 * `correctionsStatement`, which ran in the search's own batch; the corrected query's count is one
 * more round trip, only when there is a correction.
 */
async function didYouMean(
  deps: SearchDeps,
  text: string,
  filters: SearchFilters,
  rows: readonly CorrectionRow[],
): Promise<SearchResult["didYouMean"]> {
  const corrections = new Map<string, string>();
  for (const word of correctableWords(text)) {
    const own = rows.filter((row) => row.word === word);
    if (own.some((row) => !row.candidate && row.known)) continue;
    const option = own.filter((row) => row.candidate && row.known).sort((a, b) => Number(a.rank) - Number(b.rank))[0];
    if (option) corrections.set(word, option.term);
  }
  if (corrections.size === 0) return null;
  const corrected = applyCorrections(text, corrections);
  const [, counted] = await batchAsActor(
    deps.http,
    deps.actor,
    (db) => [
      db.execute(SEARCH_SETTINGS),
      db.execute<{ count: number }>(countMatchesStatement({ viewer: deps.viewer, text: corrected, filters })),
    ],
    READ_ONLY,
  );
  const total = Number(counted.rows[0]?.count ?? 0);
  return total > 0 ? { query: corrected, total } : null;
}

/** A row of `correctionsStatement`. */
interface CorrectionRow extends Record<string, unknown> {
  word: string;
  candidate: boolean;
  term: string;
  rank: number;
  known: boolean;
}

/**
 * One page of results with highlights, the facets of all matches, and "did you mean" when nothing
 * matched. One round trip to Postgres (one HTTP batch): the planner settings, the page with the
 * counts of all matches (which leaves the page's ids in a transaction-local setting), then the
 * page's documents and highlights, then the "did you mean" candidates, which return nothing at
 * once when something matched. Only a correction found costs one more round trip (its count).
 */
export async function search(deps: SearchDeps, request: SearchRequest): Promise<SearchResult> {
  const { text, filters } = request;
  const params: SearchMatchesParams = {
    viewer: deps.viewer,
    text,
    filters,
    sort: request.sort,
    limit: request.limit,
    after: request.cursor,
    tagLimit: TAG_FACETS,
  };
  const [, matched, detailed, corrections] = await batchAsActor(
    deps.http,
    deps.actor,
    (db) => [
      db.execute(SEARCH_SETTINGS),
      db.execute(pinningPage(searchMatchesStatement(params), request.limit)),
      selectPageDetails(db, { text }),
      db.execute<CorrectionRow>(correctionsStatement({ viewer: deps.viewer, words: correctableWords(text), limit: 5 })),
    ],
    READ_ONLY,
  );
  const { hits, facets } = readSearchMatches(matched.rows as unknown as SearchMatchesRow[], params);
  const details = readPageDetails(detailed);
  const page = hits.slice(0, request.limit);
  const last = page[page.length - 1];
  const relevance = request.sort === "relevance" && text !== undefined;
  const nextCursor =
    hits.length > request.limit && last
      ? encodeCursor(
          relevance
            ? { sort: "relevance", score: last.scoreText, id: last.id }
            : { sort: "recent", createdAt: last.createdAtText, id: last.id },
        )
      : null;
  const data = page.flatMap((hit) => {
    const detail = details.get(hit.id);
    if (!detail) return [];
    return [
      {
        document: detail.document,
        score: hit.score,
        highlights: {
          title: highlightHtml(detail.titleHighlight, HIGHLIGHT_START, HIGHLIGHT_STOP),
          content:
            detail.contentHighlight === null
              ? null
              : highlightHtml(detail.contentHighlight, HIGHLIGHT_START, HIGHLIGHT_STOP),
        },
      },
    ];
  });
  return {
    total: facets.total,
    totalRelation: facets.totalExact ? "eq" : "gte",
    data,
    nextCursor,
    facets: {
      approximate: facets.approximate,
      tags: facets.tags,
      types: facets.types,
      created: facets.created,
      projects: facets.projects,
    },
    didYouMean: facets.total === 0 && text ? await didYouMean(deps, text, filters, corrections.rows) : null,
  };
}

// --- suggestions ---

export interface Suggestion {
  text: string;
  kind: "title" | "tag" | "query";
  documentId: string | null;
}

/** Popular queries are suggested once this many different users ran them (never one person's searches). */
export const POPULAR_QUERY_MIN_USERS = 3;
/** …each with an account at least this old when searching, its email verified, and a result opened. */
export const POPULAR_QUERY_MIN_ACCOUNT_AGE_DAYS = 7;
const POPULAR_QUERY_DAYS = 30;

/**
 * Autocomplete: titles of readable documents (prefix, then typo-tolerant by trigram similarity),
 * tags found on readable documents, and popular queries; prefix matches first.
 */
export async function suggest(deps: SearchDeps, prefix: string, limit: number): Promise<Suggestion[]> {
  const term = prefix.toLowerCase();
  // One round trip: the caller's reads, then the system's (popular queries are everyone's
  // searches, which only the system reads; what it returns is only queries many users ran).
  const [, titleRows, tagRows, , popular] = await batchAsActor(
    deps.http,
    deps.actor,
    (db) => [
      db.execute(SEARCH_SETTINGS),
      db.execute(suggestTitlesStatement({ viewer: deps.viewer, prefix: term, limit })),
      db.execute<{ tag: string }>(suggestTagsStatement({ viewer: deps.viewer, term, limit: 10 })),
      actAs(db, SYSTEM),
      selectPopularQueries(db, {
        prefix: term,
        since: new Date(Date.now() - POPULAR_QUERY_DAYS * 86_400_000),
        minUsers: POPULAR_QUERY_MIN_USERS,
        minAccountAgeMs: POPULAR_QUERY_MIN_ACCOUNT_AGE_DAYS * 86_400_000,
        limit: 5,
      }),
    ],
    READ_ONLY,
  );
  const titles = readSuggestedTitles(titleRows.rows, limit);
  const tags = tagRows.rows.map((row) => row.tag);
  const queries = popular.map((row) => ({ query: row.query }));

  const startsWith = (text: string) => text.toLowerCase().startsWith(term) || text.toLowerCase().includes(` ${term}`);
  const all: Suggestion[] = [
    ...titles.map((t) => ({ text: t.title, kind: "title" as const, documentId: t.documentId })),
    ...tags.map((tag) => ({ text: tag, kind: "tag" as const, documentId: null })),
    ...queries.map((q) => ({ text: q.query, kind: "query" as const, documentId: null })),
  ];
  const seen = new Set<string>();
  const unique = all.filter((s) => {
    const key = `${s.kind}:${s.text.toLowerCase()}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  // Stable: prefix matches of every kind first, then the typo-tolerant ones.
  return [...unique.filter((s) => startsWith(s.text)), ...unique.filter((s) => !startsWith(s.text))].slice(0, limit);
}
