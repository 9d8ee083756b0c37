CREATE TABLE "project_activity" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"project_id" uuid NOT NULL,
	"actor_id" uuid,
	"action" text NOT NULL,
	"document_id" uuid,
	"subject_user_id" uuid,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
	CONSTRAINT "project_activity_action_check" CHECK (action in ('project.created', 'project.updated', 'project.archived', 'project.unarchived', 'project.deleted', 'member.invited', 'invitation.declined', 'invitation.revoked', 'member.joined', 'member.role_changed', 'member.removed', 'member.left', 'document.uploaded', 'document.updated', 'document.versioned', 'document.restored', 'document.moved', 'document.deleted', 'document.shared', 'document.unshared'))
);
--> statement-breakpoint
ALTER TABLE "project_activity" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "project_activity" ADD CONSTRAINT "project_activity_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "project_activity" ADD CONSTRAINT "project_activity_actor_id_users_id_fk" FOREIGN KEY ("actor_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "project_activity" ADD CONSTRAINT "project_activity_subject_user_id_users_id_fk" FOREIGN KEY ("subject_user_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "project_activity_project_created_idx" ON "project_activity" USING btree ("project_id","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE POLICY "project_activity_read" ON "project_activity" AS PERMISSIVE FOR SELECT TO public USING (current_setting('app.role', true) in ('admin', 'system') or project_role("project_activity"."project_id") is not null);--> statement-breakpoint
CREATE POLICY "project_activity_insert" ON "project_activity" AS PERMISSIVE FOR INSERT TO public WITH CHECK (current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "project_activity_update" ON "project_activity" AS PERMISSIVE FOR UPDATE TO public USING (current_setting('app.role', true) in ('admin', 'system')) WITH CHECK (current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "project_activity_delete" ON "project_activity" AS PERMISSIVE FOR DELETE TO public USING (current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
ALTER TABLE "project_activity" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
-- The activity feed is written by the triggers below and nothing else, in the transaction of the
-- change each records: a change that rolls back (refused at commit, say) leaves no row, and no
-- route can forget to write one. The acting user is `app.user_id` unless a trigger says otherwise.
--
-- One row of the feed, inserted as the system (the table admits only staff; `app.role` is switched
-- with set_config and put back, as project_role does). Nothing is recorded for a project that is
-- gone or deleted (a purge deletes its members by cascade; project.deleted itself excepted), nor
-- about a user whose account is being deleted (their memberships and shares go with it by
-- cascade). An actor whose account is gone is recorded as nobody.
CREATE FUNCTION record_project_activity(project uuid, act text, actor uuid, doc uuid, subject uuid, details jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  prior text := current_setting('app.role', true);
BEGIN
  PERFORM set_config('app.role', 'system', true);
  IF EXISTS (SELECT 1 FROM projects p WHERE p.id = project AND (p.deleted_at IS NULL OR act = 'project.deleted'))
     AND (subject IS NULL OR EXISTS (SELECT 1 FROM users u WHERE u.id = subject)) THEN
    IF actor IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = actor) THEN
      actor := NULL;
    END IF;
    INSERT INTO project_activity (project_id, actor_id, action, document_id, subject_user_id, details)
    VALUES (project, actor, act, doc, subject, details);
  END IF;
  PERFORM set_config('app.role', coalesce(prior, ''), true);
END
$$;--> statement-breakpoint
-- The acting user, as asActor sets it (null for the system acting on its own).
CREATE FUNCTION project_activity_actor() RETURNS uuid
LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;--> statement-breakpoint
-- The project's own changes: its name, description or settings (which of them), archiving,
-- unarchiving and deleting.
CREATE FUNCTION projects_activity() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  changed text[] := array_remove(ARRAY[
    CASE WHEN NEW.name IS DISTINCT FROM OLD.name THEN 'name' END,
    CASE WHEN NEW.description IS DISTINCT FROM OLD.description THEN 'description' END,
    CASE WHEN NEW.settings IS DISTINCT FROM OLD.settings THEN 'settings' END], NULL);
BEGIN
  IF NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL THEN
    PERFORM record_project_activity(NEW.id, 'project.deleted', project_activity_actor(), NULL, NULL, '{}');
    RETURN NULL;
  END IF;
  IF cardinality(changed) > 0 THEN
    PERFORM record_project_activity(NEW.id, 'project.updated', project_activity_actor(), NULL, NULL,
                                    jsonb_build_object('changed', to_jsonb(changed)));
  END IF;
  IF NEW.archived_at IS NOT NULL AND OLD.archived_at IS NULL THEN
    PERFORM record_project_activity(NEW.id, 'project.archived', project_activity_actor(), NULL, NULL, '{}');
  ELSIF NEW.archived_at IS NULL AND OLD.archived_at IS NOT NULL THEN
    PERFORM record_project_activity(NEW.id, 'project.unarchived', project_activity_actor(), NULL, NULL, '{}');
  END IF;
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER projects_activity AFTER UPDATE OF name, description, settings, archived_at, deleted_at ON projects
FOR EACH ROW WHEN (NEW.name IS DISTINCT FROM OLD.name OR NEW.description IS DISTINCT FROM OLD.description
                   OR NEW.settings IS DISTINCT FROM OLD.settings OR NEW.archived_at IS DISTINCT FROM OLD.archived_at
                   OR (NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL))
EXECUTE FUNCTION projects_activity();--> statement-breakpoint
-- Memberships: the first one is the creator's claim of a new project (project.created); any later
-- one a member joining (by invitation, or added by staff). Then role changes, and members removed
-- by someone else or leaving.
CREATE FUNCTION project_members_activity() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  prior text;
  first boolean;
  project record;
BEGIN
  IF TG_OP = 'INSERT' THEN
    prior := current_setting('app.role', true);
    PERFORM set_config('app.role', 'system', true);
    first := NOT EXISTS (SELECT 1 FROM project_members m WHERE m.project_id = NEW.project_id AND m.user_id <> NEW.user_id);
    SELECT p.name, p.slug INTO project FROM projects p WHERE p.id = NEW.project_id;
    PERFORM set_config('app.role', coalesce(prior, ''), true);
    IF first THEN
      PERFORM record_project_activity(NEW.project_id, 'project.created', project_activity_actor(), NULL, NEW.user_id,
                                      jsonb_build_object('name', project.name, 'slug', project.slug, 'role', NEW.role));
    ELSE
      PERFORM record_project_activity(NEW.project_id, 'member.joined', project_activity_actor(), NULL, NEW.user_id,
                                      jsonb_build_object('role', NEW.role));
    END IF;
  ELSIF TG_OP = 'UPDATE' THEN
    PERFORM record_project_activity(NEW.project_id, 'member.role_changed', project_activity_actor(), NULL, NEW.user_id,
                                    jsonb_build_object('from', OLD.role, 'to', NEW.role));
  ELSE
    PERFORM record_project_activity(OLD.project_id,
                                    CASE WHEN project_activity_actor() = OLD.user_id THEN 'member.left' ELSE 'member.removed' END,
                                    project_activity_actor(), NULL, OLD.user_id, jsonb_build_object('role', OLD.role));
  END IF;
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER project_members_activity_insert AFTER INSERT ON project_members
FOR EACH ROW EXECUTE FUNCTION project_members_activity();--> statement-breakpoint
CREATE TRIGGER project_members_activity_update AFTER UPDATE OF role ON project_members
FOR EACH ROW WHEN (NEW.role IS DISTINCT FROM OLD.role) EXECUTE FUNCTION project_members_activity();--> statement-breakpoint
CREATE TRIGGER project_members_activity_delete AFTER DELETE ON project_members
FOR EACH ROW EXECUTE FUNCTION project_members_activity();--> statement-breakpoint
-- Invitations made, declined and revoked (an accepted one is the member.joined of its membership).
CREATE FUNCTION project_invitations_activity() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM record_project_activity(NEW.project_id,
                                  CASE WHEN TG_OP = 'INSERT' THEN 'member.invited' ELSE 'invitation.' || NEW.status END,
                                  project_activity_actor(), NULL, NEW.invitee_id,
                                  jsonb_build_object('role', NEW.role, 'invitationId', NEW.id));
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER project_invitations_activity_insert AFTER INSERT ON project_invitations
FOR EACH ROW EXECUTE FUNCTION project_invitations_activity();--> statement-breakpoint
CREATE TRIGGER project_invitations_activity_update AFTER UPDATE OF status ON project_invitations
FOR EACH ROW WHEN (OLD.status = 'pending' AND NEW.status IN ('declined', 'revoked'))
EXECUTE FUNCTION project_invitations_activity();--> statement-breakpoint
-- A project's documents: uploaded (by their owner), their title or tags edited, moved between
-- projects (a row in each: where it went, where it came from) or to the personal space, deleted.
-- The WHEN clauses keep personal documents, and the processor's bookkeeping (status, scan result,
-- current version), away from the function altogether.
CREATE FUNCTION documents_activity() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  changed text[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM record_project_activity(NEW.project_id, 'document.uploaded', NEW.owner_id, NEW.id, NULL,
                                    jsonb_build_object('title', NEW.title));
    RETURN NULL;
  END IF;
  IF NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL THEN
    IF OLD.project_id IS NOT NULL THEN
      PERFORM record_project_activity(OLD.project_id, 'document.deleted', project_activity_actor(), NEW.id, NULL,
                                      jsonb_build_object('title', OLD.title));
    END IF;
    RETURN NULL;
  END IF;
  IF NEW.project_id IS DISTINCT FROM OLD.project_id THEN
    IF OLD.project_id IS NOT NULL THEN
      PERFORM record_project_activity(OLD.project_id, 'document.moved', project_activity_actor(), NEW.id, NULL,
                                      jsonb_build_object('to', NEW.project_id, 'title', OLD.title));
    END IF;
    IF NEW.project_id IS NOT NULL THEN
      PERFORM record_project_activity(NEW.project_id, 'document.moved', project_activity_actor(), NEW.id, NULL,
                                      jsonb_build_object('from', OLD.project_id, 'title', NEW.title));
    END IF;
  END IF;
  changed := array_remove(ARRAY[
    CASE WHEN NEW.title IS DISTINCT FROM OLD.title THEN 'title' END,
    CASE WHEN NEW.tags IS DISTINCT FROM OLD.tags THEN 'tags' END], NULL);
  IF cardinality(changed) > 0 AND NEW.project_id IS NOT NULL THEN
    PERFORM record_project_activity(NEW.project_id, 'document.updated', project_activity_actor(), NEW.id, NULL,
                                    jsonb_build_object('changed', to_jsonb(changed), 'title', NEW.title));
  END IF;
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER documents_activity_insert AFTER INSERT ON documents
FOR EACH ROW WHEN (NEW.project_id IS NOT NULL) EXECUTE FUNCTION documents_activity();--> statement-breakpoint
CREATE TRIGGER documents_activity_update AFTER UPDATE OF title, tags, project_id, deleted_at ON documents
FOR EACH ROW WHEN ((OLD.project_id IS NOT NULL OR NEW.project_id IS NOT NULL)
                   AND (NEW.title IS DISTINCT FROM OLD.title OR NEW.tags IS DISTINCT FROM OLD.tags
                        OR NEW.project_id IS DISTINCT FROM OLD.project_id
                        OR (NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL)))
EXECUTE FUNCTION documents_activity();--> statement-breakpoint
-- The document a version or share belongs to, when it is filed in a project: its project and title,
-- read as the system (a share's holder may not read the document; a purge has removed it already).
CREATE FUNCTION project_activity_document(doc uuid) RETURNS TABLE (project_id uuid, title text)
LANGUAGE plpgsql AS $$
DECLARE
  prior text := current_setting('app.role', true);
BEGIN
  PERFORM set_config('app.role', 'system', true);
  RETURN QUERY SELECT d.project_id, d.title::text FROM documents d WHERE d.id = doc AND d.project_id IS NOT NULL;
  PERFORM set_config('app.role', coalesce(prior, ''), true);
END
$$;--> statement-breakpoint
-- A new version of a project's document (its first is the upload), by whoever uploaded or restored
-- it; a version's processing is not activity.
CREATE FUNCTION document_versions_activity() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  doc record;
BEGIN
  SELECT * INTO doc FROM project_activity_document(NEW.document_id);
  IF FOUND THEN
    IF NEW.restored_from IS NULL THEN
      PERFORM record_project_activity(doc.project_id, 'document.versioned', NEW.created_by, NEW.document_id, NULL,
                                      jsonb_build_object('version', NEW.version, 'title', doc.title));
    ELSE
      PERFORM record_project_activity(doc.project_id, 'document.restored', NEW.created_by, NEW.document_id, NULL,
                                      jsonb_build_object('version', NEW.version, 'restoredFrom', NEW.restored_from,
                                                         'title', doc.title));
    END IF;
  END IF;
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER document_versions_activity AFTER INSERT ON document_versions
FOR EACH ROW WHEN (NEW.version > 1) EXECUTE FUNCTION document_versions_activity();--> statement-breakpoint
-- Shares of a project's document: given (or their access changed) and ended.
CREATE FUNCTION document_shares_activity() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  share document_shares;
  doc record;
BEGIN
  IF TG_OP = 'DELETE' THEN
    share := OLD;
  ELSE
    share := NEW;
  END IF;
  SELECT * INTO doc FROM project_activity_document(share.document_id);
  IF FOUND THEN
    PERFORM record_project_activity(doc.project_id,
                                    CASE WHEN TG_OP = 'DELETE' THEN 'document.unshared' ELSE 'document.shared' END,
                                    project_activity_actor(), share.document_id, share.user_id,
                                    CASE WHEN TG_OP = 'UPDATE'
                                         THEN jsonb_build_object('access', NEW.access, 'from', OLD.access, 'title', doc.title)
                                         ELSE jsonb_build_object('access', share.access, 'title', doc.title) END);
  END IF;
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER document_shares_activity_insert AFTER INSERT ON document_shares
FOR EACH ROW EXECUTE FUNCTION document_shares_activity();--> statement-breakpoint
CREATE TRIGGER document_shares_activity_update AFTER UPDATE OF access ON document_shares
FOR EACH ROW WHEN (NEW.access IS DISTINCT FROM OLD.access) EXECUTE FUNCTION document_shares_activity();--> statement-breakpoint
CREATE TRIGGER document_shares_activity_delete AFTER DELETE ON document_shares
FOR EACH ROW EXECUTE FUNCTION document_shares_activity();
