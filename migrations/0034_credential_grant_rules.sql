-- The permissions a user holds (empty when none), whatever the actor may read: the grant rule
-- "held" on credential changes needs them (src/auth/grant-rules.ts), like users_role_of (0014).
CREATE FUNCTION user_permissions_of(target uuid) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
  saved text := coalesce(current_setting('app.role', true), '');
  found text[];
BEGIN
  PERFORM set_config('app.role', 'system', true);
  SELECT coalesce(array_agg(permission::text), '{}') INTO found FROM user_permissions WHERE user_id = target;
  PERFORM set_config('app.role', saved, true);
  RETURN found;
END;
$$;--> statement-breakpoint
-- Migration 0033's grant-rule trigger, with the rule "held" on another account's email.
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
  -- Rule "held" on credentials: moving another account's email moves where its password reset
  -- goes, so it is done only by someone holding every permission the account holds.
  IF NOT self AND NOT is_admin AND NEW.email IS DISTINCT FROM OLD.email
     AND NOT (user_permissions_of(OLD.id) <@ held) THEN
    RAISE EXCEPTION 'grant rule "held": only a holder of every permission of the account changes its email'
      USING ERRCODE = '42501';
  END IF;
  -- A password hash is written only by the server's own flows (registration, rehash on login),
  -- which act as the system: a delegated administrator who could set one would sign in as the user.
  IF NEW.password_hash IS DISTINCT FROM OLD.password_hash THEN
    RAISE EXCEPTION 'only the server changes a password hash' USING ERRCODE = '42501';
  END IF;
  -- The account lifecycle's markers are the server's too: a user who could clear their own
  -- password_change_required would skip the change a temporary password asks for, and one who
  -- could clear deletion_requested_at would stop their erasure half-way.
  IF (NEW.password_change_required, NEW.deletion_requested_at)
     IS DISTINCT FROM (OLD.password_change_required, OLD.deletion_requested_at) THEN
    RAISE EXCEPTION 'only the server changes password_change_required or deletion_requested_at' USING ERRCODE = '42501';
  END IF;
  RETURN NEW;
END;
$$;
