import { expect } from "vitest";
import { created, type DocumentJson, processed, rawUpload } from "./document-helpers.ts";
import { api, eventually } from "./helpers.ts";

type Headers = Record<string, string>;

/** A text document, uploaded as `text/plain` and processed (so its text is indexed); fails the test unless it ends `ready`. */
export async function textDocument(
  auth: Headers,
  title: string,
  text: string,
  tags: string[] = [],
): Promise<DocumentJson> {
  const doc = await created(rawUpload(auth, text, "text/plain", { title, tags: tags.join(",") }));
  const done = await processed(auth, doc.id);
  expect(done.status).toBe("ready");
  return done;
}

/** A sorted copy, to compare results whose order is not the point. */
export const sorted = (items: string[]) => [...items].sort();

export interface SearchJson {
  queryId: string;
  total: number;
  totalRelation: "eq" | "gte";
  data: { document: DocumentJson; score: number; highlights: { title: string; content: string | null } }[];
  nextCursor: string | null;
  facets: Record<"tags" | "types" | "created" | "projects", { value: string; count: number }[]> & {
    approximate: boolean;
  };
  didYouMean: { query: string; total: number } | null;
}

export interface Searched {
  body: SearchJson;
  cache: string | null;
}

/** GET /search with these query parameters; fails the test unless it answers 200. */
export async function search(auth: Headers, params: Record<string, string | number>, fetcher = api): Promise<Searched> {
  const query = new URLSearchParams(Object.entries(params).map(([key, value]) => [key, String(value)]));
  const res = await fetcher(`/search?${query}`, { headers: auth });
  if (res.status !== 200) throw new Error(`GET /search?${query}: ${res.status} ${await res.text()}`);
  return { body: (await res.json()) as SearchJson, cache: res.headers.get("x-cache") };
}

/**
 * Repeats a search until the cache answers it: results are stored in the background after a
 * miss (the response does not wait for Redis), so the next request may come first.
 */
export function cachedSearch(auth: Headers, params: Record<string, string | number>, fetcher = api): Promise<Searched> {
  return eventually(async () => {
    const searched = await search(auth, params, fetcher);
    return searched.cache === "HIT" ? searched : undefined;
  });
}

/** The titles of a search's first page, in order. */
export async function titlesFound(auth: Headers, params: Record<string, string | number>): Promise<string[]> {
  return (await search(auth, params)).body.data.map((hit) => hit.document.title);
}

/** Every page of a search, following `nextCursor`; `between` runs before each further page. */
export async function allPages(
  auth: Headers,
  params: Record<string, string | number>,
  between: () => Promise<void> = async () => {},
): Promise<SearchJson["data"]> {
  const hits: SearchJson["data"] = [];
  let cursor: string | null = null;
  do {
    const page: Searched = await search(auth, cursor ? { ...params, cursor } : params);
    hits.push(...page.body.data);
    cursor = page.body.nextCursor;
    if (cursor) await between();
  } while (cursor);
  return hits;
}

export interface SuggestionJson {
  text: string;
  kind: "title" | "tag" | "query";
  documentId: string | null;
}

export async function suggestions(auth: Headers, q: string, limit = 8): Promise<SuggestionJson[]> {
  const res = await api(`/search/suggest?${new URLSearchParams({ q, limit: String(limit) })}`, { headers: auth });
  if (res.status !== 200) throw new Error(`GET /search/suggest: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { data: SuggestionJson[] }).data;
}
