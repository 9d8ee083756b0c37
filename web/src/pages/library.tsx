import type { Document } from "@techcorp/sdk";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { formatBytes, formatInstant } from "../components/format.ts";
import { ProblemMessage } from "../components/problem-message.tsx";
import { FINAL_STATUSES, StatusBadge } from "../components/status-badge.tsx";
import { UploadZone } from "../components/upload-zone.tsx";
import { client, currentUser } from "../session/session.ts";

const PAGE_SIZE = 25;
/** How often documents still being processed are read again, ms. */
const STATUS_POLL_MS = 1500;
const STATUSES: Document["status"][] = ["pending", "scanning", "processing", "ready", "quarantined", "failed"];
const TYPES = [
  ["application/pdf", "PDF"],
  ["application/vnd.openxmlformats-officedocument.wordprocessingml.document", "Word"],
  ["image/png", "PNG"],
  ["image/jpeg", "JPEG"],
  ["image/gif", "GIF"],
  ["image/webp", "WebP"],
  ["text/plain", "Text"],
  ["text/markdown", "Markdown"],
  ["text/csv", "CSV"],
  ["text/html", "HTML"],
] as const;

/** The filters the list takes from the page's query string (so a filtered list can be bookmarked). */
function filtersOf(query: Record<string, string>) {
  return {
    ...(query.status ? { status: query.status as Document["status"] } : {}),
    ...(query.type ? { type: query.type } : {}),
    ...(query.tag ? { tag: query.tag } : {}),
  };
}

/**
 * The library: upload, filter, and the documents newest first, the next page loaded as the end of
 * the list scrolls into view (keyset pagination: `nextCursor`), or with the "Load more" button.
 * Documents still being processed update by themselves.
 */
export function Library() {
  const { query, route, path } = useLocation();
  const filters = filtersOf(query);
  const filterKey = JSON.stringify(filters);
  const [documents, setDocuments] = useState<Document[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>();
  const sentinel = useRef<HTMLDivElement>(null);
  const generation = useRef(0);

  const loadPage = useCallback(
    async (after: string | undefined, reset: boolean) => {
      const mine = ++generation.current;
      setLoading(true);
      setError(undefined);
      try {
        const { data } = await client.api.GET("/documents", {
          params: { query: { ...filters, limit: PAGE_SIZE, ...(after ? { cursor: after } : {}) } },
        });
        if (mine !== generation.current) return;
        setDocuments((shown) => (reset ? data.data : [...shown, ...data.data]));
        setCursor(data.nextCursor);
      } catch (caught) {
        if (mine === generation.current) setError(caught);
      } finally {
        if (mine === generation.current) setLoading(false);
      }
    },
    [filterKey],
  );

  useEffect(() => {
    setDocuments([]);
    setCursor(undefined);
    void loadPage(undefined, true);
  }, [loadPage]);

  // The next page when the end of the list comes into view.
  useEffect(() => {
    const target = sentinel.current;
    if (!target || !cursor) return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting) && !loading) void loadPage(cursor, false);
    });
    observer.observe(target);
    return () => observer.disconnect();
  }, [cursor, loading, loadPage]);

  // Live status: the documents still in processing are read again until they settle.
  const unsettled = documents.filter((document) => !FINAL_STATUSES.has(document.status)).map((d) => d.id);
  const unsettledKey = unsettled.join(",");
  useEffect(() => {
    if (unsettled.length === 0) return;
    const timer = setTimeout(async () => {
      const fresh = await Promise.all(
        unsettled.slice(0, 20).map((id) =>
          client.api
            .GET("/documents/{id}", { params: { path: { id } } })
            .then(({ data }) => data)
            .catch(() => undefined),
        ),
      );
      const byId = new Map(fresh.flatMap((document) => (document ? [[document.id, document] as const] : [])));
      setDocuments((shown) => shown.map((document) => byId.get(document.id) ?? document));
    }, STATUS_POLL_MS);
    return () => clearTimeout(timer);
  }, [unsettledKey, documents]);

  const setFilter = (name: string, value: string) => {
    const next = new URLSearchParams(query);
    if (value) next.set(name, value);
    else next.delete(name);
    const search = next.toString();
    route(`${path}${search ? `?${search}` : ""}`, true);
  };

  const user = currentUser.value;
  return (
    <>
      <h1>Library</h1>
      {query.welcome && user && !user.emailVerified ? (
        <p class="notice" role="status">
          Welcome! We sent a link to {user.email}: confirm your address to share documents.
        </p>
      ) : null}
      <UploadZone
        onUploaded={(document) => setDocuments((shown) => [document, ...shown.filter((d) => d.id !== document.id)])}
      />
      <section aria-labelledby="documents-heading">
        <h2 id="documents-heading">Documents</h2>
        <form class="filters" onSubmit={(event) => event.preventDefault()}>
          <label>
            Status
            <select value={query.status ?? ""} onChange={(event) => setFilter("status", event.currentTarget.value)}>
              <option value="">Any</option>
              {STATUSES.map((status) => (
                <option key={status} value={status}>
                  {status}
                </option>
              ))}
            </select>
          </label>
          <label>
            Type
            <select value={query.type ?? ""} onChange={(event) => setFilter("type", event.currentTarget.value)}>
              <option value="">Any</option>
              {TYPES.map(([type, label]) => (
                <option key={type} value={type}>
                  {label}
                </option>
              ))}
            </select>
          </label>
          <label>
            Tag
            <input
              type="search"
              value={query.tag ?? ""}
              onChange={(event) => setFilter("tag", event.currentTarget.value.trim())}
            />
          </label>
        </form>
        <ProblemMessage error={error} />
        {documents.length === 0 && !loading && !error ? <p>No documents yet: upload one above.</p> : null}
        <ul class="documents">
          {documents.map((document) => (
            <li key={document.id}>
              <a href={`/library/${document.id}`}>{document.title}</a>
              <StatusBadge status={document.status} />
              <span class="muted">
                {formatBytes(document.sizeBytes)} · {formatInstant(document.createdAt)}
              </span>
              {document.tags.length > 0 ? <span class="tags">{document.tags.join(", ")}</span> : null}
            </li>
          ))}
        </ul>
        <div ref={sentinel} />
        {loading ? <p aria-busy="true">Loading…</p> : null}
        {cursor && !loading ? (
          <button type="button" class="secondary" onClick={() => loadPage(cursor, false)}>
            Load more
          </button>
        ) : null}
      </section>
    </>
  );
}
