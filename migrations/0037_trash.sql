ALTER TABLE "project_activity" DROP CONSTRAINT "project_activity_action_check";--> statement-breakpoint
CREATE INDEX "documents_deleted_idx" ON "documents" USING btree ("deleted_at" DESC NULLS LAST,"id" DESC NULLS LAST) WHERE "documents"."deleted_at" is not null;--> statement-breakpoint
ALTER TABLE "project_activity" ADD CONSTRAINT "project_activity_action_check" CHECK (action in ('project.created', 'project.updated', 'project.archived', 'project.unarchived', 'project.deleted', 'member.invited', 'invitation.declined', 'invitation.revoked', 'member.joined', 'member.role_changed', 'member.removed', 'member.left', 'document.uploaded', 'document.updated', 'document.versioned', 'document.restored', 'document.moved', 'document.deleted', 'document.undeleted', 'document.shared', 'document.unshared'));--> statement-breakpoint
-- A project's document brought back from the trash (POST /documents/{id}/restore) is recorded as
-- `document.undeleted` (`document.restored` already names restoring an old version).
CREATE OR REPLACE FUNCTION documents_activity() RETURNS trigger
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
  IF NEW.deleted_at IS NULL AND OLD.deleted_at IS NOT NULL THEN
    IF NEW.project_id IS NOT NULL THEN
      PERFORM record_project_activity(NEW.project_id, 'document.undeleted', project_activity_actor(), NEW.id, NULL,
                                      jsonb_build_object('title', NEW.title));
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
DROP TRIGGER documents_activity_update ON documents;--> statement-breakpoint
CREATE TRIGGER documents_activity_update AFTER UPDATE OF title, tags, project_id, deleted_at ON documents
FOR EACH ROW WHEN ((OLD.project_id IS NOT NULL OR NEW.project_id IS NOT NULL)
                   AND (NEW.title IS DISTINCT FROM OLD.title OR NEW.tags IS DISTINCT FROM OLD.tags
                        OR NEW.project_id IS DISTINCT FROM OLD.project_id
                        OR NEW.deleted_at IS DISTINCT FROM OLD.deleted_at))
EXECUTE FUNCTION documents_activity();
