-- A status change refreshes the search index row only when it changes what the row holds. The row
-- copies no status, only `searchable` (not deleted, not quarantined), so pending → scanning →
-- processing → ready leave it as it is; before, each of these three transitions rewrote the row
-- (a new tuple, and its index entries) for nothing. Quarantine, deletion, a new owner or content
-- type still refresh it; new text, a title, tags or a current version still recompute the vector.
CREATE OR REPLACE FUNCTION documents_search_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT'
     OR NEW.title IS DISTINCT FROM OLD.title
     OR NEW.tags IS DISTINCT FROM OLD.tags
     OR NEW.current_version IS DISTINCT FROM OLD.current_version THEN
    PERFORM refresh_document_search(NEW.id, true);
  ELSIF (NEW.status = 'quarantined') IS DISTINCT FROM (OLD.status = 'quarantined')
     OR NEW.deleted_at IS DISTINCT FROM OLD.deleted_at
     OR NEW.owner_id IS DISTINCT FROM OLD.owner_id
     OR NEW.content_type IS DISTINCT FROM OLD.content_type THEN
    PERFORM refresh_document_search(NEW.id, false);
  END IF;
  RETURN NULL;
END
$$;
