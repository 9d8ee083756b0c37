-- The Project Service: projects, their members and invitations, and documents filed in projects.
-- Access to a project's documents follows the acting user's role in it (project_role,
-- project_allows), in every policy that decides who reads or writes a document or its parts.
CREATE TABLE "project_invitations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"project_id" uuid NOT NULL,
	"invitee_id" uuid NOT NULL,
	"role" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"invited_by" uuid,
	"expires_at" timestamp with time zone NOT NULL,
	"responded_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "project_invitations_role_check" CHECK (role in ('admin', 'editor', 'viewer')),
	CONSTRAINT "project_invitations_status_check" CHECK (status in ('pending', 'accepted', 'declined', 'revoked'))
);
--> statement-breakpoint
ALTER TABLE "project_invitations" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "project_members" (
	"project_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"role" text NOT NULL,
	"added_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "project_members_project_id_user_id_pk" PRIMARY KEY("project_id","user_id"),
	CONSTRAINT "project_members_role_check" CHECK (role in ('owner', 'admin', 'editor', 'viewer'))
);
--> statement-breakpoint
ALTER TABLE "project_members" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "projects" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"slug" varchar(64) NOT NULL,
	"name" varchar(100) NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"settings" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_by" uuid,
	"archived_at" timestamp with time zone,
	"deleted_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "projects_slug_check" CHECK ("projects"."slug" ~ '^[a-z0-9]+(-[a-z0-9]+)*$')
);
--> statement-breakpoint
ALTER TABLE "projects" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "documents" ADD COLUMN "project_id" uuid;--> statement-breakpoint
ALTER TABLE "document_search" ADD COLUMN "project_id" uuid;--> statement-breakpoint
ALTER TABLE "projects" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "project_members" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "project_invitations" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
-- The acting user's role in a live (not deleted) project, or null: what the project policies
-- grant by. It reads project_members as the system, so that project_members' own policies can call
-- it without recursing into themselves, and it looks at the acting user's own membership and
-- nothing else. (`app.role` is switched with set_config and put back before returning: a SET
-- clause on the function would be simpler, but PostgreSQL lets only superusers attach one for a
-- custom setting, and the app's role is not one.)
CREATE FUNCTION project_role(project uuid) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  prior text := current_setting('app.role', true);
  result text;
BEGIN
  PERFORM set_config('app.role', 'system', true);
  SELECT m.role INTO result
    FROM project_members m JOIN projects p ON p.id = m.project_id
   WHERE m.project_id = project
     AND m.user_id = nullif(current_setting('app.user_id', true), '')::uuid
     AND p.deleted_at IS NULL;
  PERFORM set_config('app.role', coalesce(prior, ''), true);
  RETURN result;
END
$$;--> statement-breakpoint
-- What the acting user's role allows on a project's documents: 'read' (any member), 'write'
-- (editors, admins, owners) or 'manage' (admins, owners: delete, move, share). An archived project
-- is read-only. False for anyone else and for a deleted project.
CREATE FUNCTION project_allows(project uuid, need text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
  prior text := current_setting('app.role', true);
  result boolean;
BEGIN
  PERFORM set_config('app.role', 'system', true);
  SELECT CASE need
           WHEN 'read' THEN true
           WHEN 'write' THEN p.archived_at IS NULL AND m.role IN ('owner', 'admin', 'editor')
           WHEN 'manage' THEN p.archived_at IS NULL AND m.role IN ('owner', 'admin')
           ELSE false
         END INTO result
    FROM project_members m JOIN projects p ON p.id = m.project_id
   WHERE m.project_id = project
     AND m.user_id = nullif(current_setting('app.user_id', true), '')::uuid
     AND p.deleted_at IS NULL;
  PERFORM set_config('app.role', coalesce(prior, ''), true);
  RETURN coalesce(result, false);
END
$$;--> statement-breakpoint
-- Whether a project is archived (true), live and not archived (false), or gone (null), whoever
-- asks: a write share of a project's document, held by someone who is not a member, writes only
-- while the project is not archived, and they cannot read the project themselves.
CREATE FUNCTION project_archived(project uuid) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
  prior text := current_setting('app.role', true);
  result boolean;
BEGIN
  PERFORM set_config('app.role', 'system', true);
  SELECT p.archived_at IS NOT NULL INTO result FROM projects p WHERE p.id = project AND p.deleted_at IS NULL;
  PERFORM set_config('app.role', coalesce(prior, ''), true);
  RETURN result;
END
$$;--> statement-breakpoint
-- Whether the acting user created this project and nobody is a member of it yet: the creator's
-- first membership, as owner, in the transaction that creates the project.
CREATE FUNCTION project_unclaimed(project uuid) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
  prior text := current_setting('app.role', true);
  result boolean;
BEGIN
  PERFORM set_config('app.role', 'system', true);
  result := EXISTS (
    SELECT 1 FROM projects p
     WHERE p.id = project
       AND p.created_by = nullif(current_setting('app.user_id', true), '')::uuid
       AND NOT EXISTS (SELECT 1 FROM project_members m WHERE m.project_id = p.id));
  PERFORM set_config('app.role', coalesce(prior, ''), true);
  RETURN result;
END
$$;--> statement-breakpoint
-- A live project always has an owner. Checked when the transaction commits (a deferred constraint
-- trigger), so ownership can pass from one member to another inside one transaction, and a new
-- project gets its owner in the statement after its own; concurrent removals are serialised on the
-- project's row. Raises 23514 (check_violation) naming
-- the constraint project_members_owner, which the app maps to 409.
CREATE FUNCTION project_keeps_owner() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  prior text := current_setting('app.role', true);
  project uuid;
  orphaned boolean;
BEGIN
  IF TG_TABLE_NAME = 'projects' THEN
    project := NEW.id;
  ELSE
    project := OLD.project_id;
  END IF;
  -- As the system: a member who just left no longer sees the project or who remains in it.
  PERFORM set_config('app.role', 'system', true);
  -- The project's row is locked first, so two transactions that each remove a different owner are
  -- checked one after the other: the second counts after the first committed (each statement of
  -- this function reads the latest committed state under READ COMMITTED) and is refused, where
  -- without the lock each would count the other's owner and both would commit.
  PERFORM 1 FROM projects p WHERE p.id = project FOR NO KEY UPDATE;
  orphaned := EXISTS (SELECT 1 FROM projects p WHERE p.id = project AND p.deleted_at IS NULL)
     AND NOT EXISTS (SELECT 1 FROM project_members m WHERE m.project_id = project AND m.role = 'owner');
  PERFORM set_config('app.role', coalesce(prior, ''), true);
  IF orphaned THEN
    RAISE EXCEPTION 'the project % would have no owner', project
      USING ERRCODE = 'check_violation', CONSTRAINT = 'project_members_owner';
  END IF;
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE CONSTRAINT TRIGGER project_members_owner
AFTER UPDATE OR DELETE ON project_members DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION project_keeps_owner();--> statement-breakpoint
CREATE CONSTRAINT TRIGGER projects_owner
AFTER INSERT ON projects DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION project_keeps_owner();--> statement-breakpoint
-- Archiving, unarchiving and deleting a project are its owners' (or staff's), not its admins':
-- a policy cannot compare a row with its previous version, a trigger can. 42501.
CREATE FUNCTION projects_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('app.role', true) NOT IN ('admin', 'system')
     AND (NEW.archived_at IS DISTINCT FROM OLD.archived_at OR NEW.deleted_at IS DISTINCT FROM OLD.deleted_at)
     AND project_role(OLD.id) IS DISTINCT FROM 'owner' THEN
    RAISE EXCEPTION 'only an owner archives or deletes the project %', OLD.id USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER projects_guard BEFORE UPDATE OF archived_at, deleted_at ON projects
FOR EACH ROW EXECUTE FUNCTION projects_guard();--> statement-breakpoint
-- Moving a document to another place (a project, or the personal space) and deleting it are its
-- managers' only (the owner of a personal document; an owner or admin of its project), not
-- everyone who may edit it; where it goes, the policy documents_update checks. Its owner (the
-- uploader) never changes, except to the mover when a project's document becomes their personal
-- one: otherwise a write share's holder could make a personal document theirs, or an editor charge
-- another user's quota. 42501.
CREATE FUNCTION documents_guard() RETURNS trigger
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
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER documents_guard BEFORE UPDATE OF project_id, deleted_at, owner_id ON documents
FOR EACH ROW EXECUTE FUNCTION documents_guard();--> statement-breakpoint
-- A membership changes its role only: who and where are fixed (a new member joins by invitation,
-- never by rewriting someone else's row). 42501.
CREATE FUNCTION project_members_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('app.role', true) NOT IN ('admin', 'system')
     AND (NEW.user_id IS DISTINCT FROM OLD.user_id OR NEW.project_id IS DISTINCT FROM OLD.project_id) THEN
    RAISE EXCEPTION 'a membership changes its role only' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER project_members_guard BEFORE UPDATE ON project_members
FOR EACH ROW EXECUTE FUNCTION project_members_guard();--> statement-breakpoint
-- An invitation is answered once: pending → accepted or declined by its invitee, pending → revoked
-- by an owner or admin of its project, and nothing else of it changes (project, invitee, role,
-- expiry), so an invitee can neither raise their role, redirect it to another project, nor reopen
-- it. 42501.
CREATE FUNCTION project_invitations_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  actor uuid := nullif(current_setting('app.user_id', true), '')::uuid;
BEGIN
  IF current_setting('app.role', true) IN ('admin', 'system') THEN
    RETURN NEW;
  END IF;
  IF NEW.project_id IS DISTINCT FROM OLD.project_id OR NEW.invitee_id IS DISTINCT FROM OLD.invitee_id
     OR NEW.role IS DISTINCT FROM OLD.role OR NEW.invited_by IS DISTINCT FROM OLD.invited_by
     OR NEW.expires_at IS DISTINCT FROM OLD.expires_at OR NEW.created_at IS DISTINCT FROM OLD.created_at
     OR OLD.status <> 'pending'
     OR NOT ((NEW.status IN ('accepted', 'declined') AND OLD.invitee_id = actor)
             OR (NEW.status = 'revoked' AND project_role(OLD.project_id) IN ('owner', 'admin'))) THEN
    RAISE EXCEPTION 'an invitation is only answered once, by its invitee, or revoked' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER project_invitations_guard BEFORE UPDATE ON project_invitations
FOR EACH ROW EXECUTE FUNCTION project_invitations_guard();--> statement-breakpoint
-- The search index copies the project (the search access rule and the project facet read it).
CREATE OR REPLACE FUNCTION refresh_document_search(doc uuid, with_text boolean) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  d record;
  body text;
BEGIN
  -- The document's row is locked before the index row, in every path (a change to the document
  -- holds it already; new text takes it here), so two transactions indexing the same document
  -- wait for each other instead of deadlocking.
  SELECT id, owner_id, project_id, title, tags, content_type, created_at, current_version, status, deleted_at
    INTO d FROM documents WHERE id = doc FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF NOT with_text THEN
    UPDATE document_search
       SET owner_id = d.owner_id, project_id = d.project_id, content_type = d.content_type, created_at = d.created_at,
           searchable = d.deleted_at IS NULL AND d.status <> 'quarantined', updated_at = now()
     WHERE document_id = doc;
    IF FOUND THEN
      RETURN;
    END IF;
  END IF;
  SELECT c.text INTO body FROM document_content c WHERE c.document_id = doc AND c.version = d.current_version;
  INSERT INTO document_search (document_id, owner_id, project_id, title, tags, content_type, created_at, searchable, vector, updated_at)
  VALUES (doc, d.owner_id, d.project_id, d.title, d.tags, d.content_type, d.created_at,
          d.deleted_at IS NULL AND d.status <> 'quarantined', document_search_vector(d.title, d.tags, body), now())
  ON CONFLICT (document_id) DO UPDATE
     SET owner_id = excluded.owner_id, project_id = excluded.project_id, title = excluded.title, tags = excluded.tags,
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
  ELSIF (NEW.status = 'quarantined') IS DISTINCT FROM (OLD.status = 'quarantined')
     OR NEW.deleted_at IS DISTINCT FROM OLD.deleted_at
     OR NEW.owner_id IS DISTINCT FROM OLD.owner_id
     OR NEW.project_id IS DISTINCT FROM OLD.project_id
     OR NEW.content_type IS DISTINCT FROM OLD.content_type THEN
    PERFORM refresh_document_search(NEW.id, false);
  END IF;
  RETURN NULL;
END
$$;--> statement-breakpoint
DROP TRIGGER documents_search ON documents;--> statement-breakpoint
CREATE TRIGGER documents_search
AFTER INSERT OR UPDATE OF title, tags, current_version, status, deleted_at, owner_id, project_id, content_type ON documents
FOR EACH ROW EXECUTE FUNCTION documents_search_trigger();--> statement-breakpoint
ALTER TABLE "project_invitations" ADD CONSTRAINT "project_invitations_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "project_invitations" ADD CONSTRAINT "project_invitations_invitee_id_users_id_fk" FOREIGN KEY ("invitee_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "project_invitations" ADD CONSTRAINT "project_invitations_invited_by_users_id_fk" FOREIGN KEY ("invited_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "project_members" ADD CONSTRAINT "project_members_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "project_members" ADD CONSTRAINT "project_members_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "project_members" ADD CONSTRAINT "project_members_added_by_users_id_fk" FOREIGN KEY ("added_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "projects" ADD CONSTRAINT "projects_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "project_invitations_pending_key" ON "project_invitations" USING btree ("project_id","invitee_id") WHERE "project_invitations"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "project_invitations_invitee_idx" ON "project_invitations" USING btree ("invitee_id","created_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "project_members_user_idx" ON "project_members" USING btree ("user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "projects_slug_key" ON "projects" USING btree ("slug") WHERE "projects"."deleted_at" is null;--> statement-breakpoint
CREATE INDEX "projects_deleted_idx" ON "projects" USING btree ("deleted_at") WHERE "projects"."deleted_at" is not null;--> statement-breakpoint
ALTER TABLE "documents" ADD CONSTRAINT "documents_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "documents_project_created_idx" ON "documents" USING btree ("project_id","created_at" DESC NULLS LAST,"id" DESC NULLS LAST) WHERE "documents"."project_id" is not null;--> statement-breakpoint
CREATE INDEX "document_search_project_idx" ON "document_search" USING btree ("project_id","created_at" DESC NULLS LAST) WHERE "document_search"."project_id" is not null;--> statement-breakpoint
CREATE POLICY "project_invitations_read" ON "project_invitations" AS PERMISSIVE FOR SELECT TO public USING (current_setting('app.role', true) in ('admin', 'system') or "project_invitations"."invitee_id" = nullif(current_setting('app.user_id', true), '')::uuid or project_role("project_invitations"."project_id") in ('owner', 'admin'));--> statement-breakpoint
CREATE POLICY "project_invitations_insert" ON "project_invitations" AS PERMISSIVE FOR INSERT TO public WITH CHECK (current_setting('app.role', true) in ('admin', 'system') or ("project_invitations"."invited_by" = nullif(current_setting('app.user_id', true), '')::uuid and project_role("project_invitations"."project_id") in ('owner', 'admin')));--> statement-breakpoint
CREATE POLICY "project_invitations_update" ON "project_invitations" AS PERMISSIVE FOR UPDATE TO public USING (current_setting('app.role', true) in ('admin', 'system') or "project_invitations"."invitee_id" = nullif(current_setting('app.user_id', true), '')::uuid or project_role("project_invitations"."project_id") in ('owner', 'admin')) WITH CHECK (current_setting('app.role', true) in ('admin', 'system') or "project_invitations"."invitee_id" = nullif(current_setting('app.user_id', true), '')::uuid or project_role("project_invitations"."project_id") in ('owner', 'admin'));--> statement-breakpoint
CREATE POLICY "project_invitations_delete" ON "project_invitations" AS PERMISSIVE FOR DELETE TO public USING (current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "project_members_read" ON "project_members" AS PERMISSIVE FOR SELECT TO public USING (current_setting('app.role', true) in ('admin', 'system') or "project_members"."user_id" = nullif(current_setting('app.user_id', true), '')::uuid or project_role("project_members"."project_id") is not null);--> statement-breakpoint
CREATE POLICY "project_members_insert" ON "project_members" AS PERMISSIVE FOR INSERT TO public WITH CHECK (current_setting('app.role', true) in ('admin', 'system') or ("project_members"."user_id" = nullif(current_setting('app.user_id', true), '')::uuid and (
        ("project_members"."role" = 'owner' and project_unclaimed("project_members"."project_id"))
        or exists (select 1 from project_invitations i where i.project_id = "project_members"."project_id" and i.invitee_id = nullif(current_setting('app.user_id', true), '')::uuid
                   and i.role = "project_members"."role" and i.status = 'pending' and i.expires_at > now()))));--> statement-breakpoint
CREATE POLICY "project_members_update" ON "project_members" AS PERMISSIVE FOR UPDATE TO public USING (current_setting('app.role', true) in ('admin', 'system') or (project_role("project_members"."project_id") = 'owner' or (project_role("project_members"."project_id") = 'admin' and "project_members"."role" <> 'owner'))) WITH CHECK (current_setting('app.role', true) in ('admin', 'system') or (project_role("project_members"."project_id") = 'owner' or (project_role("project_members"."project_id") = 'admin' and "project_members"."role" <> 'owner')));--> statement-breakpoint
CREATE POLICY "project_members_delete" ON "project_members" AS PERMISSIVE FOR DELETE TO public USING (current_setting('app.role', true) in ('admin', 'system') or "project_members"."user_id" = nullif(current_setting('app.user_id', true), '')::uuid or (project_role("project_members"."project_id") = 'owner' or (project_role("project_members"."project_id") = 'admin' and "project_members"."role" <> 'owner')));--> statement-breakpoint
CREATE POLICY "projects_read" ON "projects" AS PERMISSIVE FOR SELECT TO public USING (current_setting('app.role', true) in ('admin', 'system') or project_role("projects"."id") is not null);--> statement-breakpoint
CREATE POLICY "projects_insert" ON "projects" AS PERMISSIVE FOR INSERT TO public WITH CHECK (current_setting('app.role', true) in ('admin', 'system') or "projects"."created_by" = nullif(current_setting('app.user_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "projects_update" ON "projects" AS PERMISSIVE FOR UPDATE TO public USING (current_setting('app.role', true) in ('admin', 'system') or project_role("projects"."id") in ('owner', 'admin')) WITH CHECK (current_setting('app.role', true) in ('admin', 'system') or project_role("projects"."id") in ('owner', 'admin'));--> statement-breakpoint
CREATE POLICY "projects_delete" ON "projects" AS PERMISSIVE FOR DELETE TO public USING (current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
ALTER POLICY "document_shares_read" ON "document_shares" TO public USING ("document_shares"."user_id" = nullif(current_setting('app.user_id', true), '')::uuid or "document_shares"."granted_by" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system') or exists (select 1 from document_search s where s.document_id = "document_shares"."document_id" and ((s.project_id is null and s.owner_id = nullif(current_setting('app.user_id', true), '')::uuid) or (s.project_id is not null and project_allows(s.project_id, 'manage')))));--> statement-breakpoint
ALTER POLICY "document_shares_insert" ON "document_shares" TO public WITH CHECK (current_setting('app.role', true) in ('admin', 'system') or ("document_shares"."granted_by" = nullif(current_setting('app.user_id', true), '')::uuid and exists (select 1 from document_search s where s.document_id = "document_shares"."document_id" and ((s.project_id is null and s.owner_id = nullif(current_setting('app.user_id', true), '')::uuid) or (s.project_id is not null and project_allows(s.project_id, 'manage'))))));--> statement-breakpoint
ALTER POLICY "document_shares_update" ON "document_shares" TO public USING (current_setting('app.role', true) in ('admin', 'system') or exists (select 1 from document_search s where s.document_id = "document_shares"."document_id" and ((s.project_id is null and s.owner_id = nullif(current_setting('app.user_id', true), '')::uuid) or (s.project_id is not null and project_allows(s.project_id, 'manage'))))) WITH CHECK (current_setting('app.role', true) in ('admin', 'system') or exists (select 1 from document_search s where s.document_id = "document_shares"."document_id" and ((s.project_id is null and s.owner_id = nullif(current_setting('app.user_id', true), '')::uuid) or (s.project_id is not null and project_allows(s.project_id, 'manage')))));--> statement-breakpoint
ALTER POLICY "document_shares_delete" ON "document_shares" TO public USING ("document_shares"."granted_by" = nullif(current_setting('app.user_id', true), '')::uuid or "document_shares"."user_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system') or exists (select 1 from document_search s where s.document_id = "document_shares"."document_id" and ((s.project_id is null and s.owner_id = nullif(current_setting('app.user_id', true), '')::uuid) or (s.project_id is not null and project_allows(s.project_id, 'manage')))));--> statement-breakpoint
ALTER POLICY "document_versions_write" ON "document_versions" TO public USING (exists (select 1 from documents d where d.id = document_id and ((d.project_id is null and d.owner_id = nullif(current_setting('app.user_id', true), '')::uuid) or current_setting('app.role', true) in ('admin', 'system') or (d.project_id is not null and project_allows(d.project_id, 'write')) or (exists (select 1 from document_shares s where s.document_id = d.id and s.user_id = nullif(current_setting('app.user_id', true), '')::uuid and s.access = 'write') and (d.project_id is null or not project_archived(d.project_id)))))) WITH CHECK (exists (select 1 from documents d where d.id = document_id and ((d.project_id is null and d.owner_id = nullif(current_setting('app.user_id', true), '')::uuid) or current_setting('app.role', true) in ('admin', 'system') or (d.project_id is not null and project_allows(d.project_id, 'write')) or (exists (select 1 from document_shares s where s.document_id = d.id and s.user_id = nullif(current_setting('app.user_id', true), '')::uuid and s.access = 'write') and (d.project_id is null or not project_archived(d.project_id))))));--> statement-breakpoint
ALTER POLICY "documents_read" ON "documents" TO public USING ((documents.project_id is null and documents.owner_id = nullif(current_setting('app.user_id', true), '')::uuid) or current_setting('app.role', true) in ('admin', 'system') or 'documents:read' = any(string_to_array(current_setting('app.permissions', true), ',')) or exists (select 1 from document_shares s where s.document_id = documents.id and s.user_id = nullif(current_setting('app.user_id', true), '')::uuid) or (documents.project_id is not null and project_allows(documents.project_id, 'read')));--> statement-breakpoint
ALTER POLICY "documents_insert" ON "documents" TO public WITH CHECK (current_setting('app.role', true) in ('admin', 'system') or ("documents"."owner_id" = nullif(current_setting('app.user_id', true), '')::uuid and ("documents"."project_id" is null or project_allows("documents"."project_id", 'write'))));--> statement-breakpoint
ALTER POLICY "documents_update" ON "documents" TO public USING ((documents.project_id is null and documents.owner_id = nullif(current_setting('app.user_id', true), '')::uuid) or current_setting('app.role', true) in ('admin', 'system') or exists (select 1 from document_shares s where s.document_id = documents.id and s.user_id = nullif(current_setting('app.user_id', true), '')::uuid and s.access = 'write' and (documents.project_id is null or not project_archived(documents.project_id))) or (documents.project_id is not null and project_allows(documents.project_id, 'write'))) WITH CHECK ((documents.project_id is null and documents.owner_id = nullif(current_setting('app.user_id', true), '')::uuid) or current_setting('app.role', true) in ('admin', 'system') or exists (select 1 from document_shares s where s.document_id = documents.id and s.user_id = nullif(current_setting('app.user_id', true), '')::uuid and s.access = 'write' and (documents.project_id is null or not project_archived(documents.project_id))) or (documents.project_id is not null and project_allows(documents.project_id, 'write')));--> statement-breakpoint
ALTER POLICY "documents_delete" ON "documents" TO public USING ((documents.project_id is null and documents.owner_id = nullif(current_setting('app.user_id', true), '')::uuid) or current_setting('app.role', true) in ('admin', 'system') or (documents.project_id is not null and project_allows(documents.project_id, 'manage')));--> statement-breakpoint
ALTER POLICY "document_search_insert" ON "document_search" TO public WITH CHECK (exists (select 1 from documents d where d.id = document_id and ((d.project_id is null and d.owner_id = nullif(current_setting('app.user_id', true), '')::uuid) or current_setting('app.role', true) in ('admin', 'system') or (d.project_id is not null and project_allows(d.project_id, 'write')) or (exists (select 1 from document_shares s where s.document_id = d.id and s.user_id = nullif(current_setting('app.user_id', true), '')::uuid and s.access = 'write') and (d.project_id is null or not project_archived(d.project_id))))));--> statement-breakpoint
ALTER POLICY "document_search_update" ON "document_search" TO public USING (exists (select 1 from documents d where d.id = document_id and ((d.project_id is null and d.owner_id = nullif(current_setting('app.user_id', true), '')::uuid) or current_setting('app.role', true) in ('admin', 'system') or (d.project_id is not null and project_allows(d.project_id, 'write')) or (exists (select 1 from document_shares s where s.document_id = d.id and s.user_id = nullif(current_setting('app.user_id', true), '')::uuid and s.access = 'write') and (d.project_id is null or not project_archived(d.project_id)))))) WITH CHECK (exists (select 1 from documents d where d.id = document_id and ((d.project_id is null and d.owner_id = nullif(current_setting('app.user_id', true), '')::uuid) or current_setting('app.role', true) in ('admin', 'system') or (d.project_id is not null and project_allows(d.project_id, 'write')) or (exists (select 1 from document_shares s where s.document_id = d.id and s.user_id = nullif(current_setting('app.user_id', true), '')::uuid and s.access = 'write') and (d.project_id is null or not project_archived(d.project_id))))));--> statement-breakpoint
ALTER POLICY "document_search_delete" ON "document_search" TO public USING (exists (select 1 from documents d where d.id = document_id and ((d.project_id is null and d.owner_id = nullif(current_setting('app.user_id', true), '')::uuid) or current_setting('app.role', true) in ('admin', 'system') or (d.project_id is not null and project_allows(d.project_id, 'write')) or (exists (select 1 from document_shares s where s.document_id = d.id and s.user_id = nullif(current_setting('app.user_id', true), '')::uuid and s.access = 'write') and (d.project_id is null or not project_archived(d.project_id))))));--> statement-breakpoint
-- JSON Merge Patch (RFC 7396 §2): `patch` applied to `target`. An object patch merges key by key,
-- recursively; a null member removes the key; anything else replaces the target whole. For
-- project settings, so that a PATCH is one statement (no read before the write).
CREATE FUNCTION jsonb_merge_patch(target jsonb, patch jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN jsonb_typeof(patch) IS DISTINCT FROM 'object' THEN patch
    ELSE (
      SELECT coalesce(jsonb_object_agg(key, value), '{}'::jsonb)
        FROM (
          SELECT t.key, t.value
            FROM jsonb_each(CASE WHEN jsonb_typeof(target) = 'object' THEN target ELSE '{}'::jsonb END) t
           WHERE NOT patch ? t.key
          UNION ALL
          SELECT p.key,
                 jsonb_merge_patch(CASE WHEN jsonb_typeof(target) = 'object' THEN target -> p.key END, p.value)
            FROM jsonb_each(patch) p
           WHERE jsonb_typeof(p.value) <> 'null'
        ) merged)
  END
$$;
