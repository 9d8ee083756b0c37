import type { components } from "@techcorp/sdk";
import { useEffect, useRef, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { formatInstant } from "../components/format.ts";
import { ProblemMessage } from "../components/problem-message.tsx";
import { StatusBadge } from "../components/status-badge.tsx";
import { client } from "../session/session.ts";

type Results = components["schemas"]["SearchResults"];
type Hit = Results["data"][number];

/** Suggestions wait until typing pauses this long, ms. */
const SUGGEST_DELAY_MS = 150;
const FACET_FILTERS = [
  ["tags", "Tags", "tags"],
  ["types", "Types", "type"],
  ["created", "Month", "month"],
] as const;

/** The query string's search: what was asked and the facets chosen as filters. */
function searchOf(query: Record<string, string>) {
  const month = query.month;
  const createdTo = month
    ? new Date(Date.UTC(Number(month.slice(0, 4)), Number(month.slice(5, 7)), 1)).toISOString()
    : undefined;
  return {
    q: query.q ?? "",
    ...(query.tags ? { tags: query.tags } : {}),
    ...(query.type ? { type: query.type } : {}),
    ...(month ? { createdFrom: `${month}-01T00:00:00.000Z`, createdTo } : {}),
    ...(query.sort === "recent" ? { sort: "recent" as const } : {}),
  };
}

/**
 * Search: suggestions as you type (a native `<datalist>`, which every screen reader knows), results
 * with their matches highlighted, the facets as filters, "did you mean" when nothing matched, and
 * "More results" for the next page (cursor paging).
 */
export function Find() {
  const { query, route } = useLocation();
  const search = searchOf(query);
  const searchKey = JSON.stringify(search);
  const [typed, setTyped] = useState(search.q);
  const [suggestions, setSuggestions] = useState<string[]>([]);
  const [results, setResults] = useState<Results | undefined>();
  const [hits, setHits] = useState<Hit[]>([]);
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(false);
  const asked = useRef(0);

  const go = (changes: Record<string, string | undefined>) => {
    const next = new URLSearchParams(query);
    for (const [name, value] of Object.entries(changes)) {
      if (value) next.set(name, value);
      else next.delete(name);
    }
    route(`/find?${next}`);
  };

  useEffect(() => {
    setTyped(search.q);
    if (!search.q) {
      setResults(undefined);
      setHits([]);
      return;
    }
    const mine = ++asked.current;
    setLoading(true);
    setError(undefined);
    client.api
      .GET("/search", { params: { query: search } })
      .then(({ data }) => {
        if (mine !== asked.current) return;
        setResults(data);
        setHits(data.data);
      })
      .catch((caught: unknown) => {
        if (mine === asked.current) setError(caught);
      })
      .finally(() => {
        if (mine === asked.current) setLoading(false);
      });
  }, [searchKey]);

  useEffect(() => {
    const text = typed.trim();
    if (text.length < 2 || text === search.q) {
      setSuggestions([]);
      return;
    }
    const timer = setTimeout(() => {
      client.api
        .GET("/search/suggest", { params: { query: { q: text, limit: 8 } } })
        .then(({ data }) => setSuggestions(data.data.map((suggestion) => suggestion.text)))
        .catch(() => setSuggestions([]));
    }, SUGGEST_DELAY_MS);
    return () => clearTimeout(timer);
  }, [typed, search.q]);

  const more = async () => {
    if (!results?.nextCursor) return;
    setLoading(true);
    try {
      const { data } = await client.api.GET("/search", {
        params: { query: { ...search, cursor: results.nextCursor } },
      });
      setResults(data);
      setHits((shown) => [...shown, ...data.data]);
    } catch (caught) {
      setError(caught);
    } finally {
      setLoading(false);
    }
  };

  const opened = (hit: Hit, position: number) => {
    if (!results) return;
    // Click-through for the search analytics; the navigation does not wait for it.
    void client.api
      .POST("/search/clicks", { body: { queryId: results.queryId, documentId: hit.document.id, position } })
      .catch(() => {});
  };

  return (
    <>
      <h1>Search</h1>
      <search>
        <form
          class="search-form"
          onSubmit={(event) => {
            event.preventDefault();
            go({ q: typed.trim() || undefined });
          }}
        >
          <label for="q">Search your documents</label>
          <input
            id="q"
            type="search"
            list="suggestions"
            value={typed}
            autocomplete="off"
            onInput={(event) => setTyped(event.currentTarget.value)}
          />
          <datalist id="suggestions">
            {suggestions.map((text) => (
              <option key={text} value={text} />
            ))}
          </datalist>
          <button type="submit">Search</button>
          <label>
            Sort
            <select
              value={search.sort ?? "relevance"}
              onChange={(event) => go({ sort: event.currentTarget.value === "recent" ? "recent" : undefined })}
            >
              <option value="relevance">Best match</option>
              <option value="recent">Newest</option>
            </select>
          </label>
        </form>
      </search>
      <ProblemMessage error={error} />
      {results ? (
        <div class="search-layout">
          <aside aria-label="Filters" class="facets">
            {FACET_FILTERS.map(([facet, label, param]) =>
              results.facets[facet].length > 0 ? (
                <fieldset key={facet}>
                  <legend>{label}</legend>
                  {results.facets[facet].map((entry) => {
                    const chosen = query[param] === entry.value;
                    return (
                      <label key={entry.value}>
                        <input
                          type="checkbox"
                          checked={chosen}
                          onChange={() => go({ [param]: chosen ? undefined : entry.value })}
                        />
                        {entry.value} ({entry.count})
                      </label>
                    );
                  })}
                </fieldset>
              ) : null,
            )}
          </aside>
          <section aria-labelledby="results-heading">
            <h2 id="results-heading">
              {results.total}
              {results.totalRelation === "gte" ? "+" : ""} result{results.total === 1 ? "" : "s"}
            </h2>
            {results.didYouMean ? (
              <p>
                Did you mean{" "}
                <a href={`/find?${new URLSearchParams({ q: results.didYouMean.query })}`}>{results.didYouMean.query}</a>
                ? ({results.didYouMean.total} results)
              </p>
            ) : null}
            <ol class="results">
              {hits.map((hit, index) => (
                <li key={hit.document.id}>
                  <a href={`/library/${hit.document.id}`} onClick={() => opened(hit, index + 1)}>
                    <span dangerouslySetInnerHTML={{ __html: hit.highlights.title }} />
                  </a>{" "}
                  <StatusBadge status={hit.document.status} />
                  {hit.highlights.content ? (
                    <p class="snippet" dangerouslySetInnerHTML={{ __html: hit.highlights.content }} />
                  ) : null}
                  <p class="muted">{formatInstant(hit.document.createdAt)}</p>
                </li>
              ))}
            </ol>
            {results.nextCursor ? (
              <button type="button" class="secondary" onClick={more} disabled={loading}>
                More results
              </button>
            ) : null}
          </section>
        </div>
      ) : loading ? (
        <p aria-busy="true">Searching…</p>
      ) : null}
    </>
  );
}
