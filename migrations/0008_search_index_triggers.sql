-- The search index (document_search) and the suggestion vocabulary are kept current by the
-- database itself: whatever changes a document's title, tags, current version, extracted text,
-- status or deletion updates its index row in the same transaction, so the index can never
-- disagree with what is stored.

-- Title: English analysis (stemmed) and the standard form (unstemmed), weight A; tags as keywords,
-- weight B; the extracted text, English, weight C.
CREATE OR REPLACE FUNCTION document_search_vector(title text, tags text[], body text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT setweight(to_tsvector('english'::regconfig, title), 'A')
      || setweight(to_tsvector('simple'::regconfig, title), 'A')
      || setweight(to_tsvector('simple'::regconfig, array_to_string(tags, ' ')), 'B')
      || setweight(to_tsvector('english'::regconfig, coalesce(body, '')), 'C')
$$;--> statement-breakpoint

-- with_text: the title, tags or text changed, so the vector is computed again (the expensive part);
-- otherwise only the copied columns are brought up to date (status changes while processing).
CREATE OR REPLACE FUNCTION refresh_document_search(doc uuid, with_text boolean) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  d record;
  body text;
BEGIN
  -- The document's row is locked before the index row, in every path (a change to the document
  -- holds it already; new text takes it here), so two transactions indexing the same document
  -- wait for each other instead of deadlocking.
  SELECT id, owner_id, title, tags, content_type, created_at, current_version, status, deleted_at
    INTO d FROM documents WHERE id = doc FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF NOT with_text THEN
    UPDATE document_search
       SET owner_id = d.owner_id, content_type = d.content_type, created_at = d.created_at,
           searchable = d.deleted_at IS NULL AND d.status <> 'quarantined', updated_at = now()
     WHERE document_id = doc;
    IF FOUND THEN
      RETURN;
    END IF;
  END IF;
  SELECT c.text INTO body FROM document_content c WHERE c.document_id = doc AND c.version = d.current_version;
  INSERT INTO document_search (document_id, owner_id, title, tags, content_type, created_at, searchable, vector, updated_at)
  VALUES (doc, d.owner_id, d.title, d.tags, d.content_type, d.created_at,
          d.deleted_at IS NULL AND d.status <> 'quarantined', document_search_vector(d.title, d.tags, body), now())
  ON CONFLICT (document_id) DO UPDATE
     SET owner_id = excluded.owner_id, title = excluded.title, tags = excluded.tags,
         content_type = excluded.content_type, created_at = excluded.created_at,
         searchable = excluded.searchable, vector = excluded.vector, updated_at = excluded.updated_at;
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
  IF TG_OP = 'INSERT'
     OR NEW.title IS DISTINCT FROM OLD.title
     OR NEW.tags IS DISTINCT FROM OLD.tags
     OR NEW.current_version IS DISTINCT FROM OLD.current_version THEN
    PERFORM refresh_document_search(NEW.id, true);
  ELSIF NEW.status IS DISTINCT FROM OLD.status
     OR NEW.deleted_at IS DISTINCT FROM OLD.deleted_at
     OR NEW.owner_id IS DISTINCT FROM OLD.owner_id
     OR NEW.content_type IS DISTINCT FROM OLD.content_type THEN
    PERFORM refresh_document_search(NEW.id, false);
  END IF;
  RETURN NULL;
END
$$;--> statement-breakpoint

CREATE TRIGGER documents_search
AFTER INSERT OR UPDATE OF title, tags, current_version, status, deleted_at, owner_id, content_type ON documents
FOR EACH ROW EXECUTE FUNCTION documents_search_trigger();--> statement-breakpoint

-- Text of an older version (a late redelivery) does not replace the current one's.
CREATE OR REPLACE FUNCTION document_content_search_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM documents WHERE id = NEW.document_id AND current_version = NEW.version) THEN
    PERFORM refresh_document_search(NEW.document_id, true);
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
SELECT refresh_document_search(id, true) FROM documents;
