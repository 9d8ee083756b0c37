import { and, arrayContains, eq, gte, inArray, isNull, lt, ne, or, type SQL, sql } from "drizzle-orm";
import type { AnyPgColumn } from "drizzle-orm/pg-core";
import type { Queryable, Transaction } from "../actor.ts";
import { type Document, documentContent, documentShares, documents } from "../schema/documents.ts";
import { documentSearch, searchClicks, searchQueries, searchVocabulary, suppressedQueries } from "../schema/search.ts";
import { users } from "../schema/users.ts";
import { projectIdsOf, type Viewer } from "./documents.ts";

// The Search Service's SQL, over the search index (document_search) alone until the page's
// documents are loaded. Access control is part of every query, by the same rule as the
// `documents_read` policy: a user never sees, counts or is offered anything from a document they
// may not read. Documents themselves are then read from `documents`, under its policy.

/** Relevance weights of the index's parts, in ts_rank's order {D, C, B, A}: title A, tags B, text C. */
const WEIGHTS = sql.raw("'{0.05, 0.2, 0.5, 1.0}'::float4[]");

/**
 * When a query matches more than this many documents, results are ranked among the newest this
 * many (the order a page can reach). It bounds the sort, not the reading: the one pass of
 * `searchMatchesStatement` scores every match as it reads its row (about 3 µs per match at
 * 100,000 documents, README "Benchmarks").
 */
export const RANK_WINDOW = 10_000;

/**
 * Markers ts_headline puts around matches; the service turns them into `<mark>`. They are control
 * characters, which `highlightSource` removes from the text first, so only ts_headline can write one.
 */
export const HIGHLIGHT_START = "\u0002";
export const HIGHLIGHT_STOP = "\u0003";

/** The C0 and C1 control characters (Unicode general category Cc) Postgres text can hold: all but NUL. */
const CONTROL_CHARACTERS = Array.from({ length: 0xa0 }, (_, code) => String.fromCharCode(code))
  .filter((char) => /\p{Cc}/u.test(char) && char !== "\u0000")
  .join("");

/**
 * Document text as ts_headline reads it for a highlight: every control character (the markers
 * among them) made a space, which is how Postgres's parser reads them anyway, then `&`, `<` and
 * `>` written as HTML character references. The parser keeps those references whole and would
 * otherwise drop anything that looks like a tag, so the highlight shows the text as it is.
 * The result is HTML text with no markers; ts_headline copies it verbatim around the ones it adds.
 */
function highlightSource(text: SQL | AnyPgColumn): SQL {
  const spaced = sql`translate(${text}, ${CONTROL_CHARACTERS}, ${" ".repeat(CONTROL_CHARACTERS.length)})`;
  return sql`replace(replace(replace(${spaced}, '&', '&amp;'), '<', '&lt;'), '>', '&gt;')`;
}
/**
 * ts_headline reads at most this many characters of each hit's text (OWASP API4:2023): it parses
 * all it is given, about 0.1 ms per 1,000 characters, so a page of 50 hits whose texts hold the
 * stored maximum (500,000 characters) cost over a second at the former 200,000; now at most
 * 500,000 characters per page. A match only further in still finds the document; its snippet is
 * then the text's start, unmarked.
 */
export const HEADLINE_TEXT_CHARS = 10_000;

/**
 * Matches are counted up to this many (as Elasticsearch's `track_total_hits` default): beyond it
 * `total` is this number with `totalRelation: "gte"`. Equal to RANK_WINDOW, which only needs to
 * know whether there are more matches than it ranks. Sorted newest first or browsing, the count's
 * scan stops here; ranked by relevance, it is taken from the pass that reads every match anyway.
 */
export const TOTAL_COUNT_LIMIT = RANK_WINDOW;

/**
 * Facets count at most this many matches: the first the index scan yields (not the best nor the
 * newest, which would mean reading every match first), with `approximate: true` when there are
 * more. Measured on a 30,000-document corpus, a word in 40 % of it: 86 ms for exact facets,
 * 20 ms for these and the capped total.
 */
export const FACET_SAMPLE = 2_000;

/** How many projects the projects facet lists, most matches first. */
export const PROJECT_FACETS = 20;

/** The projects facet's value for personal documents (filed in no project), as the `project` filter spells it. */
export const PERSONAL = "none";

export interface SearchFilters {
  tags?: string[] | undefined;
  types?: string[] | undefined;
  ownerId?: string | undefined;
  /** A project's documents only; null: personal documents only. */
  projectId?: string | null | undefined;
  createdFrom?: Date | undefined;
  createdTo?: Date | undefined;
}

const tsquery = (text: string) => sql`websearch_to_tsquery('english', ${text})`;

/**
 * The query ranking uses: the same terms and phrases joined by OR. Which documents match is
 * decided by the real query; ranking them by how often and where (title, tags, text) each term
 * occurs, without ts_rank's pairwise term proximity, which costs a square of the occurrences
 * (4× slower for three words over 10,000 matches) and which Elasticsearch's BM25 does not use
 * either.
 */
const rankingQuery = (text: string) => sql`replace(${tsquery(text)}::text, '&', '|')::tsquery`;

/**
 * The index entries the viewer may read, by the rule of the `documents_read` policy: their
 * personal documents (filed in no project: in a project, the uploader's `owner_id` gives them
 * nothing), those shared with them, and those of the live projects they are a member of in any
 * role (all for readsAll). The shared document ids and the viewer's project ids are each read once
 * into an array, so the planner can OR the owner index, primary-key lookups of those documents and
 * the project index, and AND that with the text index: a user's search then visits only their
 * readable matches. The same rule as a correlated `exists` (or the policy's `project_allows`),
 * which Postgres runs as a subplan per match: measured at 100,000 documents for a user owning 71,
 * counting a word in 12 % of the corpus took 14 ms of backend CPU with it and 0.7 ms with this;
 * for a member of two projects of 150 documents each, counting a word in 20 % of 100,000 took
 * 140-210 ms with the policy's `project_allows` per match and 6-12 ms with the array.
 */
function readableEntries(viewer: Viewer): SQL | undefined {
  return viewer.readsAll
    ? undefined
    : or(
        and(isNull(documentSearch.projectId), eq(documentSearch.ownerId, viewer.userId)),
        sql`${documentSearch.documentId} = any(array(select sh.document_id from ${documentShares} sh where sh.user_id = ${viewer.userId}))`,
        sql`${documentSearch.projectId} = any(${projectIdsOf(viewer.userId, "read")})`,
      );
}

/** The `project` filter: a project's entries, or (null) personal ones. */
function inProject(projectId: string | null | undefined): SQL | undefined {
  if (projectId === undefined) return undefined;
  return projectId === null ? isNull(documentSearch.projectId) : eq(documentSearch.projectId, projectId);
}

/** What may appear in results at all: readable, not deleted, not quarantined, and the filters. */
function visible(viewer: Viewer, filters: SearchFilters): SQL | undefined {
  return and(
    eq(documentSearch.searchable, true),
    readableEntries(viewer),
    filters.tags?.length ? arrayContains(documentSearch.tags, filters.tags) : undefined,
    filters.types?.length ? inArray(documentSearch.contentType, filters.types) : undefined,
    filters.ownerId ? eq(documentSearch.ownerId, filters.ownerId) : undefined,
    inProject(filters.projectId),
    filters.createdFrom ? gte(documentSearch.createdAt, filters.createdFrom) : undefined,
    filters.createdTo ? lt(documentSearch.createdAt, filters.createdTo) : undefined,
  );
}

const matching = (text: string | undefined) => (text ? sql`${documentSearch.vector} @@ ${tsquery(text)}` : undefined);

/**
 * Settings for a transaction of search queries; call it once, first. random_page_cost: Postgres's
 * default (4, for spinning disks) makes the planner read the whole index table instead of the GIN
 * index once a term is in a few percent of it; on SSD-backed storage (Neon, any laptop) the index
 * is several times faster. Word similarity of at least 0.5 for `<%` (pg_trgm's default is 0.6):
 * "quartrly revnue" still finds "Quarterly revenue report" (0.55), about one typo in every word of
 * five letters or more. Both transaction-local.
 */
export const SEARCH_SETTINGS: SQL = sql`select set_config('random_page_cost', '1.1', true), set_config('pg_trgm.word_similarity_threshold', '0.5', true)`;

/** `SEARCH_SETTINGS` in a WebSocket transaction; a batch puts `db.execute(SEARCH_SETTINGS)` first. */
export async function tuneSearch(tx: Transaction): Promise<void> {
  await tx.execute(SEARCH_SETTINGS);
}

export type SearchCursor =
  | { sort: "relevance"; score: string; id: string }
  | { sort: "recent"; createdAt: string; id: string };

export interface SearchHit {
  id: string;
  /** Relevance (0 when browsing without a query); `scoreText` is its exact value, for the cursor. */
  score: number;
  scoreText: string;
  createdAtText: string;
}

export interface HitDetails {
  document: Document;
  titleHighlight: string;
  contentHighlight: string | null;
}

/**
 * The transaction-local setting through which a batch's search statement hands the ids of its
 * page to the details statement after it (`pinningPage`, `selectPageDetails`): statements of one
 * batch cannot see each other's results, and recomputing the page would rank the matches twice.
 */
const PAGE_SETTING = "search.page_ids";
/** Likewise the number of matches (as counted, up to TOTAL_COUNT_LIMIT), for `correctionsStatement`. */
const TOTAL_SETTING = "search.total";

/**
 * `statement` (the rows of `searchMatchesStatement`, unchanged) that also leaves the ids of its
 * first `limit` hits in the transaction-local setting `search.page_ids`, for `selectPageDetails`,
 * and its total in `search.total`, for `correctionsStatement`, later in the same transaction. One
 * HTTP batch then holds the whole search.
 */
export function pinningPage(statement: SQL, limit: number): SQL {
  return sql`with search_rows as (${statement}),
    pinned as (
      select set_config(${PAGE_SETTING}, coalesce((select string_agg(value, ',') from search_rows where kind = 'hit' and count <= ${limit}), ''), true),
             set_config(${TOTAL_SETTING}, coalesce((select count::text from search_rows where kind = 'total'), '0'), true)
    )
    select search_rows.* from search_rows, pinned`;
}

/**
 * The documents of a page with highlighted title and text snippets (computed for this page only):
 * the page `pinningPage` left earlier in the transaction, or `ids`. Zero rows when the page is
 * empty. Both highlights are HTML text (`&`, `<`, `>` escaped, no control characters) in which
 * only matches are wrapped in HIGHLIGHT_START … HIGHLIGHT_STOP; without a query, the title and the
 * text's first 200 characters, unmarked. Documents are read under their own policy.
 */
export function selectPageDetails(db: Queryable, params: { text: string | undefined; ids?: string[] }) {
  const options = `StartSel=${HIGHLIGHT_START}, StopSel=${HIGHLIGHT_STOP}`;
  const title = params.text
    ? sql<string>`ts_headline('english', ${highlightSource(documents.title)}, ${tsquery(params.text)}, ${`HighlightAll=true, ${options}`})`
    : sql<string>`${highlightSource(documents.title)}`;
  const content = params.text
    ? sql<
        string | null
      >`ts_headline('english', ${highlightSource(sql`left(${documentContent.text}, ${HEADLINE_TEXT_CHARS})`)}, ${tsquery(params.text)}, ${`MaxFragments=2, MaxWords=24, MinWords=8, FragmentDelimiter=" … ", ${options}`})`
    : sql<string | null>`${highlightSource(sql`left(${documentContent.text}, 200)`)}`;
  const ids = params.ids
    ? sql`array[${sql.join(
        params.ids.map((id) => sql`${id}`),
        sql`, `,
      )}]::uuid[]`
    : sql`string_to_array(current_setting(${PAGE_SETTING}, true), ',')::uuid[]`;
  return db
    .select({ document: documents, title, content })
    .from(documents)
    .leftJoin(
      documentContent,
      and(eq(documentContent.documentId, documents.id), eq(documentContent.version, documents.currentVersion)),
    )
    .where(sql`${documents.id} = any(${ids})`);
}

/** The rows of `selectPageDetails` by document id. */
export function readPageDetails(
  rows: readonly { document: Document; title: string; content: string | null }[],
): Map<string, HitDetails> {
  return new Map(
    rows.map((row) => [
      row.document.id,
      { document: row.document, titleHighlight: row.title, contentHighlight: row.content },
    ]),
  );
}

/** `selectPageDetails` for these ids in a WebSocket transaction. */
export async function hitDetails(
  tx: Transaction,
  params: { ids: string[]; text: string | undefined },
): Promise<Map<string, HitDetails>> {
  if (params.ids.length === 0) return new Map();
  return readPageDetails(await selectPageDetails(tx, params));
}

export interface FacetCount {
  value: string;
  count: number;
}

export interface Facets {
  /** Matches, counted up to `totalLimit`; `totalExact` false means there are more (the limit is a lower bound). */
  total: number;
  totalExact: boolean;
  /** True when the counts below are of a sample of `sample` matches, not of all of them. */
  approximate: boolean;
  tags: FacetCount[];
  types: FacetCount[];
  /** Months (YYYY-MM) of creation. */
  created: FacetCount[];
  /** Project ids, and PERSONAL for documents filed in no project. */
  projects: FacetCount[];
}

export interface SearchMatchesParams {
  viewer: Viewer;
  /** Normalised query text; undefined browses (newest first, no ranking). */
  text: string | undefined;
  filters: SearchFilters;
  sort: "relevance" | "recent";
  /** Page size: `limit + 1` hits are returned, the extra one telling that more follow. */
  limit: number;
  after?: SearchCursor | undefined;
  /** How many tag facets, most frequent first. */
  tagLimit: number;
  /** How many project facets, most frequent first; PROJECT_FACETS by default. */
  projectLimit?: number;
  /** TOTAL_COUNT_LIMIT unless a test wants a small one. */
  totalLimit?: number;
  /** FACET_SAMPLE unless a test wants a small one. */
  sample?: number;
  /** RANK_WINDOW unless a test wants a small one. */
  rankWindow?: number;
}

export interface SearchMatches {
  /** Best first (or newest first), at most `limit + 1`. */
  hits: SearchHit[];
  facets: Facets;
}

/**
 * The one statement behind a search: a page of hits and the counts of all matches (total, tags,
 * types, months, projects), as rows `(kind, value, count, score, score_text, created_at_text)` that
 * `readSearchMatches` decodes. It takes no input from an earlier statement, so it can share a
 * batch (one round trip) with the transaction's settings.
 *
 * Ranked by relevance, each match's row is read once: the index scan yields every match with its
 * score (ts_rank reads the vector already in hand, about a microsecond), and the total, the facet
 * sample and the ranking window are all taken from that one pass, materialised as narrow rows
 * (no vectors). Measured at 100,000 documents for a word in 12 % of them, this halves the
 * backend's CPU time against a separate facet scan plus a ranking pass that read each windowed
 * match's row a second time by primary key (see README, Benchmarks). Sorted newest first or
 * browsing, the page comes straight off the (created_at, document_id) index and the counts from a
 * scan that stops after `totalLimit + 1` matches.
 */
export function searchMatchesStatement(params: SearchMatchesParams): SQL {
  const { text, after } = params;
  const totalLimit = params.totalLimit ?? TOTAL_COUNT_LIMIT;
  const sampleSize = Math.min(params.sample ?? FACET_SAMPLE, totalLimit);
  const window = params.rankWindow ?? RANK_WINDOW;
  const where = and(visible(params.viewer, params.filters), matching(text));
  const { documentId, createdAt, tags, contentType, projectId, vector } = documentSearch;
  const facetRows = sql`
    select 'total' as kind, '' as value, count(*)::int as count, null::real as score, null::text as score_text, null::text as created_at_text
      from (select 1 from matches limit ${totalLimit + 1}) as counted
    union all
    (select 'tag', tag, count(*)::int, null::real, null::text, null::text from sample, unnest(sample.tags) as tag group by tag order by count(*) desc, tag limit ${params.tagLimit})
    union all
    (select 'type', content_type, count(*)::int, null::real, null::text, null::text from sample group by content_type order by count(*) desc, content_type)
    union all
    (select 'created', to_char(date_trunc('month', created_at at time zone 'UTC'), 'YYYY-MM'), count(*)::int, null::real, null::text, null::text from sample group by 2 order by 2 desc)
    union all
    (select 'project', coalesce(project_id::text, ${PERSONAL}), count(*)::int, null::real, null::text, null::text from sample group by 2 order by 3 desc, 2 limit ${params.projectLimit ?? PROJECT_FACETS})`;

  if (params.sort === "relevance" && text !== undefined) {
    // A title equal to the whole query (its exact keyword form) comes first. Those documents are
    // looked up once through the lower(title) index into a hashed set, rather than lower-casing
    // every match's title (about 5 % of the statement's CPU for a word in 12 % of 100,000).
    const exactTitles = sql`select exact.document_id from ${documentSearch} as exact where lower(exact.title) = ${text}`;
    const score = sql`(ts_rank(${WEIGHTS}, ${vector}, ${rankingQuery(text)}, 1) + case when ${documentId} in (${exactTitles}) then 1 else 0 end)::real`;
    return sql`
      with matches as materialized (
        select ${documentId} as document_id, ${createdAt} as created_at, ${tags} as tags, ${contentType} as content_type, ${projectId} as project_id, ${score} as score
        from ${documentSearch} where ${where}
      ),
      sample as (select tags, content_type, created_at, project_id from matches limit ${sampleSize}),
      ranked as (select document_id, score, created_at from matches order by created_at desc, document_id desc limit ${window})
      ${facetRows}
      union all
      select 'hit', document_id::text, (row_number() over (order by score desc, document_id desc))::int, score, score::text, created_at::text
      from (
        select document_id, score, created_at from ranked
        ${after?.sort === "relevance" ? sql`where (score, document_id) < (${after.score}::real, ${after.id}::uuid)` : sql``}
        order by score desc, document_id desc limit ${params.limit + 1}
      ) as page`;
  }
  return sql`
    with matches as materialized (
      select ${tags} as tags, ${contentType} as content_type, ${createdAt} as created_at, ${projectId} as project_id
      from ${documentSearch} where ${where} limit ${totalLimit + 1}
    ),
    sample as (select * from matches limit ${sampleSize})
    ${facetRows}
    union all
    select 'hit', document_id::text, (row_number() over (order by created_at desc, document_id desc))::int, 0::real, '0', created_at::text
    from (
      select ${documentId} as document_id, ${createdAt} as created_at from ${documentSearch}
      where ${and(
        where,
        after?.sort === "recent"
          ? sql`(${createdAt}, ${documentId}) < (${after.createdAt}::timestamptz, ${after.id}::uuid)`
          : undefined,
      )}
      order by ${createdAt} desc, ${documentId} desc limit ${params.limit + 1}
    ) as page`;
}

/** The row `searchMatchesStatement` returns, as the driver hands it over. */
export interface SearchMatchesRow {
  kind: string;
  value: string;
  count: number | string;
  score: number | string | null;
  score_text: string | null;
  created_at_text: string | null;
}

/** Decodes the rows of `searchMatchesStatement(params)` (the same params). */
export function readSearchMatches(
  rows: readonly SearchMatchesRow[],
  params: Pick<SearchMatchesParams, "totalLimit" | "sample">,
): SearchMatches {
  const totalLimit = params.totalLimit ?? TOTAL_COUNT_LIMIT;
  const sampleSize = Math.min(params.sample ?? FACET_SAMPLE, totalLimit);
  const facets: Facets = {
    total: 0,
    totalExact: true,
    approximate: false,
    tags: [],
    types: [],
    created: [],
    projects: [],
  };
  const hits: { position: number; hit: SearchHit }[] = [];
  for (const row of rows) {
    const entry = { value: row.value, count: Number(row.count) };
    if (row.kind === "hit") {
      hits.push({
        position: entry.count,
        hit: {
          id: row.value,
          score: Number(row.score),
          scoreText: row.score_text ?? "0",
          createdAtText: row.created_at_text ?? "",
        },
      });
    } else if (row.kind === "total") {
      facets.total = Math.min(entry.count, totalLimit);
      facets.totalExact = entry.count <= totalLimit;
      facets.approximate = entry.count > sampleSize;
    } else if (row.kind === "tag") facets.tags.push(entry);
    else if (row.kind === "type") facets.types.push(entry);
    else if (row.kind === "project") facets.projects.push(entry);
    else facets.created.push(entry);
  }
  return { hits: hits.sort((a, b) => a.position - b.position).map((entry) => entry.hit), facets };
}

/**
 * One page of matches, best first (or newest first), keyset-paginated, and the counts of all of
 * them: `searchMatchesStatement` run in `tx`. Bounded work (OWASP API4:2023): the total stops at
 * `totalLimit`, the facets count `sample` matches, ranking orders the newest `rankWindow`.
 */
export async function searchMatches(tx: Transaction, params: SearchMatchesParams): Promise<SearchMatches> {
  const result = await tx.execute<Record<string, unknown>>(searchMatchesStatement(params));
  return readSearchMatches(result.rows as unknown as SearchMatchesRow[], params);
}

/**
 * How many readable documents a query matches (for "did you mean"), counted up to `limit`
 * (default TOTAL_COUNT_LIMIT): the scan stops there, however many match. Rows `(count)`.
 */
export function countMatchesStatement(params: {
  viewer: Viewer;
  text: string;
  filters: SearchFilters;
  limit?: number;
}): SQL {
  const limit = params.limit ?? TOTAL_COUNT_LIMIT;
  return sql`select count(*)::int as count from (select 1 from ${documentSearch} where ${and(
    visible(params.viewer, params.filters),
    matching(params.text),
  )} limit ${limit}) as found`;
}

// --- suggestions ---

/** A LIKE pattern for text starting with `prefix` (its own %, _ and \\ taken literally). */
const startsWith = (prefix: string) => `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/**
 * Distinct titles of readable documents (the newest document of each) that start with, or have a
 * word starting with, `prefix`, as rows `(title, document_id, part = 0)`; only when those are
 * fewer than `limit`, titles resembling it (`part = 1`). Similarity is computed for the second part
 * only (a one-time filter on the first part's count), so a prefix that thousands of titles share
 * stays an index lookup. One statement: the two steps share a batch. `readSuggestedTitles` decodes.
 */
export function suggestTitlesStatement(params: { viewer: Viewer; prefix: string; limit: number }): SQL {
  const lowered = sql`lower(${documentSearch.title})`;
  const like = startsWith(params.prefix);
  const prefixed = sql`(${lowered} like ${like} or ${lowered} like ${`% ${like}`})`;
  const distinctTitles = (where: SQL | undefined, rank: SQL) => sql`
      select title, document_id, rank, created_at from (
        select distinct on (${lowered}) ${documentSearch.title} as title, ${documentSearch.documentId} as document_id,
               ${documentSearch.createdAt} as created_at, ${rank} as rank
        from ${documentSearch} where ${where}
        order by ${lowered}, ${documentSearch.createdAt} desc
      ) t order by rank desc, created_at desc limit ${params.limit}`;
  return sql`
    with prefixed as (${distinctTitles(and(visible(params.viewer, {}), prefixed), sql`(${lowered} like ${like})::int`)}),
    resembling as (${distinctTitles(
      and(
        sql`(select count(*) from prefixed) < ${params.limit}`,
        visible(params.viewer, {}),
        sql`${params.prefix} <% ${lowered}`,
        sql`not ${prefixed}`,
      ),
      sql`word_similarity(${params.prefix}, ${lowered})`,
    )})
    select title, document_id, 0 as part, rank::real as rank, created_at from prefixed
    union all
    select title, document_id, 1, rank::real, created_at from resembling
    order by part, rank desc, created_at desc`;
}

/** The titles of `suggestTitlesStatement`'s rows: the prefix matches, then resembling titles not already among them. */
export function readSuggestedTitles(
  rows: readonly Record<string, unknown>[],
  limit: number,
): { title: string; documentId: string }[] {
  const seen = new Set<string>();
  const found: { title: string; documentId: string }[] = [];
  for (const row of rows) {
    const title = String(row.title);
    if (seen.has(title.toLowerCase())) continue;
    if (Number(row.part) === 0) seen.add(title.toLowerCase());
    found.push({ title, documentId: String(row.document_id) });
  }
  return found.slice(0, limit);
}

/**
 * The tags to suggest for `term`: the vocabulary's closest `limit` tags (starting with it first,
 * then by similarity), of which those found on a document the viewer may read, in that order.
 * The vocabulary holds every user's tags, so a tag is offered only once a readable document
 * carries it. Rows `(tag)`.
 */
export function suggestTagsStatement(params: { viewer: Viewer; term: string; limit: number }): SQL {
  const like = startsWith(params.term);
  return sql`
    select c.term as tag from (
      select ${searchVocabulary.term} as term, (${searchVocabulary.term} like ${like}) as prefixed,
             similarity(${searchVocabulary.term}, ${params.term}) as similarity
      from ${searchVocabulary}
      where ${and(
        eq(searchVocabulary.kind, "tag"),
        sql`(${searchVocabulary.term} like ${like} or ${searchVocabulary.term} % ${params.term})`,
        ne(searchVocabulary.term, params.term),
      )}
      order by prefixed desc, similarity desc, term limit ${params.limit}
    ) c
    where exists (select 1 from ${documentSearch} where ${and(visible(params.viewer, {}), sql`${documentSearch.tags} @> array[c.term::text]`)})
    order by c.prefixed desc, c.similarity desc, c.term`;
}

/**
 * Whether `word` needs no correction: a readable document contains it (stemmed as in titles and
 * text, or as a tag), or it is a stop word the query ignores anyway.
 */
function knownWord(viewer: Viewer, word: SQL): SQL {
  return sql`(numnode(plainto_tsquery('english', ${word})) = 0 or exists (select 1 from ${documentSearch} where ${and(
    visible(viewer, {}),
    sql`${documentSearch.vector} @@ (plainto_tsquery('english', ${word}) || plainto_tsquery('simple', ${word}))`,
  )}))`;
}

/**
 * For "did you mean", only when the search before it in the transaction (`pinningPage`) matched
 * nothing (otherwise a one-time filter makes it return nothing at once): for each of `words`, a row
 * `(word, candidate = false, term = word, rank = 0, known)`, then its `limit` most similar
 * vocabulary words (trigram similarity), `candidate = true` and `rank` 1, 2, … closest first, each
 * with whether it is known. The vocabulary holds every user's words, so a candidate may be offered
 * only when it is known. One statement for all the words, so it shares the search's batch.
 */
export function correctionsStatement(params: { viewer: Viewer; words: string[]; limit: number }): SQL {
  const { viewer } = params;
  const words = sql`array[${sql.join(
    params.words.map((word) => sql`${word}`),
    sql`, `,
  )}]::text[]`;
  const nothingMatched = sql`current_setting(${TOTAL_SETTING}, true) = '0'`;
  return sql`
    select w.word, false as candidate, w.word as term, 0 as rank, ${knownWord(viewer, sql`w.word`)} as known
    from unnest(${words}) as w(word) where ${nothingMatched}
    union all
    select w.word, true, c.term, c.rank, ${knownWord(viewer, sql`c.term`)}
    from unnest(${words}) as w(word)
    cross join lateral (
      select ${searchVocabulary.term}::text as term,
             row_number() over (order by similarity(${searchVocabulary.term}, w.word) desc, ${searchVocabulary.term})::int as rank
      from ${searchVocabulary}
      where ${and(eq(searchVocabulary.kind, "word"), sql`${searchVocabulary.term} % w.word`, sql`${searchVocabulary.term} <> w.word`)}
      order by similarity(${searchVocabulary.term}, w.word) desc, ${searchVocabulary.term} limit ${params.limit}
    ) as c
    where ${nothingMatched}`;
}

/**
 * What a user's search must show before it counts towards a popular query: the account is active,
 * its email verified, it was at least `minAccountAgeMs` old when it searched, the search found
 * something and the user opened a result of it (POST /search/clicks). Throwaway accounts, made
 * minutes before, fail it (OWASP API6:2023, unrestricted access to a sensitive business flow).
 */
export interface PopularQuerySignal {
  minUsers: number;
  minAccountAgeMs: number;
}

/**
 * Queries many people ran recently that found something: suggested only once at least
 * `minUsers` different users whose searches pass the signal (see PopularQuerySignal) ran them,
 * so one person's searches are never shown to another, and never a query containing a phrase
 * an administrator suppressed (`search_suppressed_queries`). Runs as the system (`actAs`).
 */
export function selectPopularQueries(
  db: Queryable,
  params: PopularQuerySignal & { prefix: string; since: Date; limit: number },
) {
  const like = startsWith(params.prefix);
  return db
    .select({ query: searchQueries.query, count: sql<number>`count(*)::int` })
    .from(searchQueries)
    .innerJoin(users, eq(users.id, searchQueries.userId))
    .where(
      and(
        gte(searchQueries.createdAt, params.since),
        sql`${searchQueries.resultCount} > 0`,
        sql`(${searchQueries.query} like ${like} or ${searchQueries.query} % ${params.prefix})`,
        eq(users.status, "active"),
        eq(users.emailVerified, true),
        sql`${searchQueries.createdAt} - ${users.createdAt} >= make_interval(secs => ${params.minAccountAgeMs / 1000})`,
        sql`exists (select 1 from ${searchClicks} k where k.query_id = ${searchQueries.id})`,
        sql`not exists (select 1 from ${suppressedQueries} s where strpos(${searchQueries.query}, s.phrase) > 0)`,
      ),
    )
    .groupBy(searchQueries.query)
    .having(sql`count(distinct ${searchQueries.userId}) >= ${params.minUsers}`)
    .orderBy(sql`${searchQueries.query} like ${like} desc`, sql`count(*) desc`, searchQueries.query)
    .limit(params.limit);
}
