-- The application's role owns these tables (as Neon's owner role does), and owners bypass
-- row-level security unless it is forced.
ALTER TABLE "users" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "user_permissions" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "user_mfa" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "oauth_identities" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
-- Row-level security decides which rows may be updated, not which columns: a user edits their
-- profile but never their own role, status, verified email or password hash (that goes through
-- the auth service, acting as the system). The API refuses those fields too; this keeps the rule
-- for any query that forgets.
CREATE FUNCTION users_guard_privileged_columns() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF coalesce(current_setting('app.role', true), '') NOT IN ('admin', 'system')
     AND NOT ('users:manage' = any(string_to_array(current_setting('app.permissions', true), ',')))
     AND (NEW.role IS DISTINCT FROM OLD.role
          OR NEW.status IS DISTINCT FROM OLD.status
          OR NEW.email_verified IS DISTINCT FROM OLD.email_verified
          OR NEW.password_hash IS DISTINCT FROM OLD.password_hash) THEN
    RAISE EXCEPTION 'only staff may change role, status, email verification or password hash'
      USING ERRCODE = '42501';
  END IF;
  RETURN NEW;
END;
$$;--> statement-breakpoint
CREATE TRIGGER users_guard_privileged_columns BEFORE UPDATE ON "users"
  FOR EACH ROW EXECUTE FUNCTION users_guard_privileged_columns();
