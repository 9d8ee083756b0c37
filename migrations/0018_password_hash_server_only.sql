-- A password hash is the server's to write (migration 0014 still let admins and users:manage
-- holders set one with a raw query, which is signing in as that user): the same function as 0014
-- with that one rule narrowed to the system (OWASP API5:2023; ASVS 4.0.3 V4.1.3, least privilege).
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
  -- A password hash is written only by the server's own flows (registration, rehash on login),
  -- which act as the system: a delegated administrator who could set one would sign in as the user.
  IF NEW.password_hash IS DISTINCT FROM OLD.password_hash THEN
    RAISE EXCEPTION 'only the server changes a password hash' USING ERRCODE = '42501';
  END IF;
  RETURN NEW;
END;
$$;
