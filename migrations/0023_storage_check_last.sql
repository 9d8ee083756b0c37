-- The quota check of a new document's record batch moves to the end of its transaction, after the
-- inserts: confirm_storage(owner, need, limits) takes the owner's usage lock, reads the usage
-- (which now includes this transaction's own new rows) and raises when it passes a limit. The
-- lock is then held only from the last statement to the commit, where reserve_storage (migration
-- 0021), which ran first, held it across every insert and its triggers: one owner's concurrent
-- uploads waited for each other that much longer. The result is the same: under READ COMMITTED
-- the statement after the lock sees every change committed before the lock was granted, plus the
-- transaction's own. Errors as before: Q0001 (DETAIL {"quota", "limit", "used", "requested"},
-- `used` without this transaction's own rows), Q0002 for an owner that does not exist.
CREATE FUNCTION confirm_storage(
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
    -- The usage counts this transaction's own rows already.
    used := used - need;
    IF need > 0 AND used + need > lim THEN
      RAISE EXCEPTION 'the owner''s % quota would be exceeded', quota
        USING ERRCODE = 'Q0001',
              DETAIL = json_build_object('quota', quota, 'limit', lim, 'used', used, 'requested', need)::text;
    END IF;
  END LOOP;
END
$$;
--> statement-breakpoint
DROP FUNCTION reserve_storage(uuid, bigint, bigint, bigint, bigint, bigint, bigint);
