CREATE TABLE "sessions_outbox" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "sessions_outbox_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"user_id" uuid NOT NULL,
	"reason" varchar(32) NOT NULL,
	"not_before" timestamp with time zone,
	"keep_session_id" text,
	"key_ids" uuid[] DEFAULT '{}' NOT NULL,
	"created_at" timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
	CONSTRAINT "sessions_outbox_reason_check" CHECK (reason in ('password_reset', 'password_changed', 'temporary_password_set', 'mfa_reset', 'account_deleted', 'principal_changed'))
);
--> statement-breakpoint
ALTER TABLE "sessions_outbox" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE INDEX "sessions_outbox_created_idx" ON "sessions_outbox" USING btree ("created_at");--> statement-breakpoint
CREATE POLICY "sessions_outbox_write" ON "sessions_outbox" AS PERMISSIVE FOR INSERT TO public WITH CHECK (current_setting('app.role', true) in ('admin', 'system') or 'users:manage' = any(string_to_array(current_setting('app.permissions', true), ',')) or 'permissions:manage' = any(string_to_array(current_setting('app.permissions', true), ',')));--> statement-breakpoint
CREATE POLICY "sessions_outbox_staff" ON "sessions_outbox" AS PERMISSIVE FOR ALL TO public USING (current_setting('app.role', true) in ('admin', 'system')) WITH CHECK (current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
ALTER TABLE "sessions_outbox" FORCE ROW LEVEL SECURITY;
