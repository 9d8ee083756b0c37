-- Storage of a project's documents counts against the project (PROJECT_QUOTA_BYTES), no longer
-- against whoever uploaded them: a user's usage is their personal documents only.
CREATE OR REPLACE FUNCTION storage_usage(owner uuid)
RETURNS TABLE (role text, documents bigint, versions bigint, bytes bigint)
LANGUAGE sql STABLE AS $$
  WITH owned AS (
    SELECT id FROM documents WHERE owner_id = owner AND deleted_at IS NULL AND project_id IS NULL
  ), kept AS (
    SELECT v.storage_key, v.size_bytes FROM document_versions v JOIN owned ON owned.id = v.document_id
  )
  SELECT u.role::text,
         (SELECT count(*) FROM owned),
         (SELECT count(*) FROM kept),
         (SELECT coalesce(sum(size_bytes), 0)::bigint
            FROM (SELECT DISTINCT ON (storage_key) size_bytes FROM kept) objects)
    FROM users u
   WHERE u.id = owner
$$;
--> statement-breakpoint
-- project_storage_usage(project): documents (not deleted) of a live project and the bytes of their
-- distinct objects, one row, or none for a project that does not exist or is deleted. With the
-- caller's rights (the app calls it as the system).
CREATE FUNCTION project_storage_usage(project uuid)
RETURNS TABLE (documents bigint, bytes bigint)
LANGUAGE sql STABLE AS $$
  WITH filed AS (
    SELECT id FROM documents WHERE project_id = project AND deleted_at IS NULL
  ), kept AS (
    SELECT v.storage_key, v.size_bytes FROM document_versions v JOIN filed ON filed.id = v.document_id
  )
  SELECT (SELECT count(*) FROM filed),
         (SELECT coalesce(sum(size_bytes), 0)::bigint
            FROM (SELECT DISTINCT ON (storage_key) size_bytes FROM kept) objects)
    FROM projects p
   WHERE p.id = project AND p.deleted_at IS NULL
$$;
--> statement-breakpoint
-- confirm_project_storage(project, need_bytes, limit_bytes): as confirm_storage (migration 0023),
-- for a project: at the end of the transaction that wrote what it adds, takes the project's usage
-- lock (held to the commit), reads the usage, which counts the transaction's own rows, and raises
-- when it passes the limit:
--   Q0003 project quota exceeded, DETAIL {"quota": "projectBytes", "limit", "used", "requested"}
--         (`used` without this transaction's own bytes);
--   Q0004 the project does not exist or is deleted.
CREATE FUNCTION confirm_project_storage(project uuid, need_bytes bigint, limit_bytes bigint)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  usage record;
  used bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('project_storage:' || project::text, 0));
  SELECT * INTO usage FROM project_storage_usage(project);
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the project % does not exist', project USING ERRCODE = 'Q0004';
  END IF;
  used := usage.bytes - need_bytes;
  IF need_bytes > 0 AND used + need_bytes > limit_bytes THEN
    RAISE EXCEPTION 'the project''s storage quota would be exceeded'
      USING ERRCODE = 'Q0003',
            DETAIL = json_build_object('quota', 'projectBytes', 'limit', limit_bytes, 'used', used, 'requested', need_bytes)::text;
  END IF;
END
$$;
--> statement-breakpoint
-- document_usage(doc): a document's versions and the bytes of their distinct objects, what moving
-- it adds to where it goes.
CREATE FUNCTION document_usage(doc uuid)
RETURNS TABLE (versions bigint, bytes bigint)
LANGUAGE sql STABLE AS $$
  SELECT count(*),
         coalesce((SELECT sum(size_bytes) FROM (SELECT DISTINCT ON (storage_key) size_bytes
                                                  FROM document_versions WHERE document_id = doc) objects), 0)::bigint
    FROM document_versions WHERE document_id = doc
$$;
--> statement-breakpoint
-- A project's documents stay when the account of whoever uploaded them is deleted: before the
-- account's rows cascade away, they pass to the project's longest-standing owner. (Its personal
-- documents go with it, as before.) When that user is the project's last owner the deletion is
-- refused at commit anyway (project_members_owner).
CREATE FUNCTION users_keep_project_documents() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  prior text := current_setting('app.role', true);
BEGIN
  PERFORM set_config('app.role', 'system', true);
  UPDATE documents d
     SET owner_id = (SELECT m.user_id FROM project_members m
                      WHERE m.project_id = d.project_id AND m.role = 'owner' AND m.user_id <> OLD.id
                      ORDER BY m.created_at, m.user_id LIMIT 1)
   WHERE d.owner_id = OLD.id AND d.project_id IS NOT NULL
     AND EXISTS (SELECT 1 FROM project_members m
                  WHERE m.project_id = d.project_id AND m.role = 'owner' AND m.user_id <> OLD.id);
  PERFORM set_config('app.role', coalesce(prior, ''), true);
  RETURN OLD;
END
$$;
--> statement-breakpoint
CREATE TRIGGER users_keep_project_documents BEFORE DELETE ON users
FOR EACH ROW EXECUTE FUNCTION users_keep_project_documents();
