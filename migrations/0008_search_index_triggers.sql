-- The search index (document_search) and the suggestion vocabulary are kept current by the
-- database itself: whatever changes a document's title, tags, current version or extracted text
-- re-indexes it in the same transaction, so the index can never disagree with what is stored.

-- Title: English analysis (stemmed) and the standard form (unstemmed), weight A; tags as keywords,
-- weight B; the extracted text, English, weight C.
CREATE OR REPLACE FUNCTION document_search_vector(title text, tags text[], body text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT setweight(to_tsvector('english'::regconfig, title), 'A')
      || setweight(to_tsvector('simple'::regconfig, title), 'A')
      || setweight(to_tsvector('simple'::regconfig, array_to_string(tags, ' ')), 'B')
      || setweight(to_tsvector('english'::regconfig, coalesce(body, '')), 'C')
$$;--> statement-breakpoint

CREATE OR REPLACE FUNCTION refresh_document_search(doc uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  d record;
  body text;
BEGIN
  SELECT id, title, tags, current_version INTO d FROM documents WHERE id = doc;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  SELECT c.text INTO body FROM document_content c WHERE c.document_id = doc AND c.version = d.current_version;
  INSERT INTO document_search (document_id, vector, updated_at)
  VALUES (doc, document_search_vector(d.title, d.tags, body), now())
  ON CONFLICT (document_id) DO UPDATE SET vector = excluded.vector, updated_at = excluded.updated_at;
  -- Real words (unstemmed) and tags, for "did you mean" and suggestions.
  INSERT INTO search_vocabulary (term, kind)
  SELECT DISTINCT t.lexeme, 'word'
  FROM unnest(to_tsvector('simple'::regconfig, d.title || ' ' || coalesce(body, ''))) AS t
  WHERE t.lexeme ~ '^[a-z][a-z''-]{2,39}$'
  ON CONFLICT DO NOTHING;
  INSERT INTO search_vocabulary (term, kind)
  SELECT DISTINCT lower(tag), 'tag' FROM unnest(d.tags) AS tag WHERE length(tag) <= 64
  ON CONFLICT DO NOTHING;
END
$$;--> statement-breakpoint

CREATE OR REPLACE FUNCTION documents_search_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM refresh_document_search(NEW.id);
  RETURN NULL;
END
$$;--> statement-breakpoint

CREATE TRIGGER documents_search
AFTER INSERT OR UPDATE OF title, tags, current_version ON documents
FOR EACH ROW EXECUTE FUNCTION documents_search_trigger();--> statement-breakpoint

-- Text of an older version (a late redelivery) does not replace the current one's.
CREATE OR REPLACE FUNCTION document_content_search_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM documents WHERE id = NEW.document_id AND current_version = NEW.version) THEN
    PERFORM refresh_document_search(NEW.document_id);
  END IF;
  RETURN NULL;
END
$$;--> statement-breakpoint

CREATE TRIGGER document_content_search
AFTER INSERT OR UPDATE ON document_content
FOR EACH ROW EXECUTE FUNCTION document_content_search_trigger();--> statement-breakpoint

ALTER TABLE "document_search" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "search_vocabulary" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "search_queries" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "search_clicks" FORCE ROW LEVEL SECURITY;--> statement-breakpoint

-- Index what exists already, as the system (row-level security sees nothing otherwise).
SELECT set_config('app.role', 'system', true);--> statement-breakpoint
SELECT refresh_document_search(id) FROM documents;
