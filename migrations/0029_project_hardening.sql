-- What the review of the Project Service found, closed in the database:
-- - an invitation keeps the login it was addressed to (admins see it, never the username an email
--   belongs to);
-- - a project's merged settings stay within 16 KiB;
-- - invitations and outside share holders appear in the activity feed for owners and admins only,
--   as the invitations and shares themselves do;
-- - moving a document into a project needs a writing role there, whatever else lets the caller
--   write the row (a write share passed the policy's check before).
ALTER TABLE "project_invitations" ADD COLUMN "login" varchar(255) DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "projects" ADD CONSTRAINT "projects_settings_size_check" CHECK (octet_length("projects"."settings"::text) <= 16384);--> statement-breakpoint
ALTER POLICY "project_activity_read" ON "project_activity" TO public USING (current_setting('app.role', true) in ('admin', 'system') or project_role("project_activity"."project_id") in ('owner', 'admin') or (project_role("project_activity"."project_id") is not null and "project_activity"."action" not in ('member.invited', 'invitation.declined', 'invitation.revoked', 'document.shared', 'document.unshared')));--> statement-breakpoint
CREATE OR REPLACE FUNCTION documents_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  actor uuid := nullif(current_setting('app.user_id', true), '')::uuid;
BEGIN
  IF current_setting('app.role', true) IN ('admin', 'system') THEN
    RETURN NEW;
  END IF;
  IF NEW.owner_id IS DISTINCT FROM OLD.owner_id
     AND NOT (OLD.project_id IS NOT NULL AND NEW.project_id IS NULL AND NEW.owner_id = actor) THEN
    RAISE EXCEPTION 'the owner of the document % is not changed this way', OLD.id USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF (NEW.project_id IS DISTINCT FROM OLD.project_id OR NEW.deleted_at IS DISTINCT FROM OLD.deleted_at)
     AND NOT (CASE WHEN OLD.project_id IS NULL
                   THEN OLD.owner_id = actor
                   ELSE project_allows(OLD.project_id, 'manage') END) THEN
    RAISE EXCEPTION 'only a manager of the document % moves or deletes it', OLD.id USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.project_id IS NOT NULL AND NEW.project_id IS DISTINCT FROM OLD.project_id
     AND NOT project_allows(NEW.project_id, 'write') THEN
    RAISE EXCEPTION 'the document % may only be moved into a project the mover writes in', OLD.id USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
-- An owner or admin of an archived project can still end the shares of its documents.
ALTER POLICY "document_shares_delete" ON "document_shares" TO public USING ("document_shares"."granted_by" = nullif(current_setting('app.user_id', true), '')::uuid or "document_shares"."user_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system') or exists (select 1 from document_search s where s.document_id = "document_shares"."document_id" and ((s.project_id is null and s.owner_id = nullif(current_setting('app.user_id', true), '')::uuid) or (s.project_id is not null and project_role(s.project_id) in ('owner', 'admin')))));
--> statement-breakpoint
-- confirm_owned_projects(owner, limit): how many live projects a user may own (PROJECTS_PER_USER),
-- checked at the end of the transaction that created one, under a per-user lock, counting it: raises
-- Q0005 with DETAIL {"quota": "projects", "limit", "used", "requested": 1} past the limit. Each
-- project has its own storage quota, so without this a user could multiply theirs by creating
-- projects (OWASP API4:2023).
CREATE FUNCTION confirm_owned_projects(owner uuid, limit_projects bigint) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  owned bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('owned_projects:' || owner::text, 0));
  SELECT count(*) INTO owned
    FROM project_members m JOIN projects p ON p.id = m.project_id
   WHERE m.user_id = owner AND m.role = 'owner' AND p.deleted_at IS NULL;
  IF owned > limit_projects THEN
    RAISE EXCEPTION 'the user % would own more than % projects', owner, limit_projects
      USING ERRCODE = 'Q0005',
            DETAIL = json_build_object('quota', 'projects', 'limit', limit_projects, 'used', owned - 1, 'requested', 1)::text;
  END IF;
END
$$;
