-- The grant rules of src/auth/grant-rules.ts, enforced under every query (OWASP API3 and API5;
-- ASVS 4.0.3 V4.1.2, V4.1.3): row-level security decides which rows an actor may write, these
-- triggers which changes. The server acting as itself (app.role = 'system': login, registration,
-- the operator's make-admin script) is trusted. Refusals are SQLSTATE 42501 naming the rule.
CREATE OR REPLACE FUNCTION users_guard_privileged_columns() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  actor_id uuid := nullif(current_setting('app.user_id', true), '')::uuid;
  actor_role text := coalesce(current_setting('app.role', true), '');
  held text[] := string_to_array(coalesce(current_setting('app.permissions', true), ''), ',');
  is_admin boolean := actor_role = 'admin';
  self boolean;
BEGIN
  IF actor_role = 'system' AND TG_OP = 'DELETE' THEN
    RETURN OLD;
  ELSIF actor_role = 'system' THEN
    RETURN NEW;
  END IF;
  IF TG_OP = 'DELETE' THEN
    IF OLD.id = actor_id THEN
      RAISE EXCEPTION 'grant rule "self": no one deletes their own account' USING ERRCODE = '42501';
    END IF;
    IF OLD.role = 'admin' AND NOT is_admin THEN
      RAISE EXCEPTION 'grant rule "admins": only an admin deletes an admin' USING ERRCODE = '42501';
    END IF;
    IF NOT (is_admin OR 'users:manage' = any(held)) THEN
      RAISE EXCEPTION 'grant rule "function": deleting users needs users:manage' USING ERRCODE = '42501';
    END IF;
    RETURN OLD;
  END IF;

  IF NEW.id IS DISTINCT FROM OLD.id THEN
    RAISE EXCEPTION 'a user''s id never changes' USING ERRCODE = '42501';
  END IF;
  self := OLD.id = actor_id;
  -- Rule "self": one's own identity attributes change only through the server's own flows.
  IF self AND (NEW.email, NEW.username, NEW.email_verified) IS DISTINCT FROM (OLD.email, OLD.username, OLD.email_verified) THEN
    RAISE EXCEPTION 'grant rule "self": no one changes their own email, username or email verification'
      USING ERRCODE = '42501';
  END IF;
  -- Rule "verification": a new address is unproven, whoever sets it.
  IF NEW.email IS DISTINCT FROM OLD.email THEN
    NEW.email_verified := false;
  END IF;
  IF (OLD.role = 'admin' OR NEW.role = 'admin') AND NOT is_admin THEN
    RAISE EXCEPTION 'grant rule "admins": only an admin changes an admin''s account' USING ERRCODE = '42501';
  END IF;
  -- Only admins hold the admin role, so only they grant it; a demotion touches an admin.
  IF NEW.role IS DISTINCT FROM OLD.role AND (self OR NOT is_admin) THEN
    RAISE EXCEPTION 'grant rule "self"/"held": only an admin changes a role, never their own' USING ERRCODE = '42501';
  END IF;
  IF NEW.status IS DISTINCT FROM OLD.status AND (self OR NOT (is_admin OR 'users:manage' = any(held))) THEN
    RAISE EXCEPTION 'grant rule "self"/"function": a status is changed by users:manage, never one''s own'
      USING ERRCODE = '42501';
  END IF;
  IF NEW.email_verified AND NOT OLD.email_verified AND NOT is_admin THEN
    RAISE EXCEPTION 'grant rule "verification": only an admin marks an email verified'
      USING ERRCODE = '42501';
  END IF;
  IF NOT self AND NOT (is_admin OR 'users:write' = any(held))
     AND ((NEW.email, NEW.username, NEW.email_verified, NEW.display_name, NEW.bio, NEW.avatar_url, NEW.locale,
           NEW.timezone, NEW.preferences)
          IS DISTINCT FROM
          (OLD.email, OLD.username, OLD.email_verified, OLD.display_name, OLD.bio, OLD.avatar_url, OLD.locale,
           OLD.timezone, OLD.preferences)) THEN
    RAISE EXCEPTION 'grant rule "function": another user''s attributes need users:write' USING ERRCODE = '42501';
  END IF;
  IF NEW.password_hash IS DISTINCT FROM OLD.password_hash AND NOT (is_admin OR 'users:manage' = any(held)) THEN
    RAISE EXCEPTION 'only the server or users:manage changes a password hash' USING ERRCODE = '42501';
  END IF;
  RETURN NEW;
END;
$$;--> statement-breakpoint
DROP TRIGGER users_guard_privileged_columns ON "users";--> statement-breakpoint
CREATE TRIGGER users_guard_privileged_columns BEFORE UPDATE OR DELETE ON "users"
  FOR EACH ROW EXECUTE FUNCTION users_guard_privileged_columns();--> statement-breakpoint
-- A grant's target role must be known whether or not the actor may read the user (managing
-- permissions does not need users:read): read as the system for this one statement, then restore.
CREATE FUNCTION users_role_of(target uuid) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  saved text := coalesce(current_setting('app.role', true), '');
  found text;
BEGIN
  PERFORM set_config('app.role', 'system', true);
  SELECT role INTO found FROM users WHERE id = target;
  PERFORM set_config('app.role', saved, true);
  RETURN found;
END;
$$;--> statement-breakpoint
CREATE FUNCTION user_permissions_guard_grants() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  actor_id uuid := nullif(current_setting('app.user_id', true), '')::uuid;
  actor_role text := coalesce(current_setting('app.role', true), '');
  held text[] := string_to_array(coalesce(current_setting('app.permissions', true), ''), ',');
  is_admin boolean := actor_role = 'admin';
  grantee uuid;
  grantee_role text;
  granted text;
BEGIN
  IF actor_role = 'system' AND TG_OP = 'DELETE' THEN
    RETURN OLD;
  ELSIF actor_role = 'system' THEN
    RETURN NEW;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    -- Deleting the user who granted sets granted_by to null (the foreign key's action); nothing else.
    IF (NEW.user_id, NEW.permission) IS NOT DISTINCT FROM (OLD.user_id, OLD.permission) AND NEW.granted_by IS NULL THEN
      RETURN NEW;
    END IF;
    RAISE EXCEPTION 'a grant is revoked and granted again, never rewritten' USING ERRCODE = '42501';
  END IF;
  IF TG_OP = 'DELETE' THEN
    grantee := OLD.user_id;
    granted := OLD.permission;
  ELSE
    grantee := NEW.user_id;
    granted := NEW.permission;
  END IF;
  grantee_role := users_role_of(grantee);
  -- Deleting a user takes their grants along (the foreign key's cascade): nothing is granted.
  IF TG_OP = 'DELETE' AND grantee_role IS NULL THEN
    RETURN OLD;
  END IF;
  IF grantee = actor_id THEN
    RAISE EXCEPTION 'grant rule "self": no one changes their own permissions' USING ERRCODE = '42501';
  END IF;
  IF grantee_role = 'admin' AND NOT is_admin THEN
    RAISE EXCEPTION 'grant rule "admins": only an admin changes an admin''s permissions' USING ERRCODE = '42501';
  END IF;
  IF NOT is_admin AND NOT ('permissions:manage' = any(held) AND granted = any(held)) THEN
    RAISE EXCEPTION 'grant rule "held": only a holder of permissions:manage and of % grants or revokes it', granted
      USING ERRCODE = '42501';
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  -- Who granted is recorded by the database, not claimed by the caller.
  NEW.granted_by := actor_id;
  RETURN NEW;
END;
$$;--> statement-breakpoint
CREATE TRIGGER user_permissions_guard_grants BEFORE INSERT OR UPDATE OR DELETE ON "user_permissions"
  FOR EACH ROW EXECUTE FUNCTION user_permissions_guard_grants();
