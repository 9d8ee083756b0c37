-- The quota check of an upload inside the transaction that records it, so that the whole record
-- step is one HTTP batch (src/documents/intake.ts): no round trip back to the app between taking
-- the owner's usage lock, reading the usage and writing (OWASP API4:2023).
--
-- storage_usage(owner): the owner's usage as src/db/queries/documents.ts defined it until now
-- (documents not deleted, their versions, bytes of their distinct objects), one row, or none for
-- an unknown owner. Runs with the caller's rights: row-level security applies (the app calls it
-- as the system, which sees every owner's documents).
CREATE FUNCTION storage_usage(owner uuid)
RETURNS TABLE (role text, documents bigint, versions bigint, bytes bigint)
LANGUAGE sql STABLE AS $$
  WITH owned AS (
    SELECT id FROM documents WHERE owner_id = owner AND deleted_at IS NULL
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
-- reserve_storage(owner, need, limits): takes the owner's usage lock (the advisory lock
-- lockStorageUsage takes, held until the transaction ends), reads the usage after it, and raises
-- when `need` added to it would pass a limit, checking documents, then versions, then bytes, each
-- only when something of it is needed; admins are exempt. The app maps the errors back:
--   Q0001 quota exceeded, DETAIL a JSON object {"quota", "limit", "used", "requested"};
--   Q0002 the owner does not exist.
-- (Class Q0 is implementation-defined: PostgreSQL Appendix A leaves classes I-Z to applications.)
CREATE FUNCTION reserve_storage(
  owner uuid,
  need_documents bigint, need_versions bigint, need_bytes bigint,
  limit_documents bigint, limit_versions bigint, limit_bytes bigint
) RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  usage record;
  quota text;
  used bigint;
  need bigint;
  lim bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('storage_usage:' || owner::text, 0));
  -- A statement after the lock: under READ COMMITTED it sees every change committed before the
  -- lock was granted.
  SELECT * INTO usage FROM storage_usage(owner);
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the owner % does not exist', owner USING ERRCODE = 'Q0002';
  END IF;
  IF usage.role = 'admin' THEN
    RETURN;
  END IF;
  FOREACH quota IN ARRAY ARRAY['documents', 'versions', 'bytes'] LOOP
    CASE quota
      WHEN 'documents' THEN used := usage.documents; need := need_documents; lim := limit_documents;
      WHEN 'versions' THEN used := usage.versions; need := need_versions; lim := limit_versions;
      ELSE used := usage.bytes; need := need_bytes; lim := limit_bytes;
    END CASE;
    IF need > 0 AND used + need > lim THEN
      RAISE EXCEPTION 'the owner''s % quota would be exceeded', quota
        USING ERRCODE = 'Q0001',
              DETAIL = json_build_object('quota', quota, 'limit', lim, 'used', used, 'requested', need)::text;
    END IF;
  END LOOP;
END
$$;
--> statement-breakpoint
-- end_upload_intent(key): removes an upload's intent in the transaction that records the upload,
-- raising (P0002 no_data_found) when there was none to remove or row-level security hid it, so
-- that the transaction rolls back: an intent left behind, or one the sweeper already acted on,
-- must not let the record commit (the app's removeUploadIntent does the same with expectRows).
CREATE FUNCTION end_upload_intent(key text) RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  DELETE FROM upload_intents WHERE storage_key = key;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no upload intent % to remove (row-level security or a missing row)', key
      USING ERRCODE = 'P0002';
  END IF;
END
$$;
