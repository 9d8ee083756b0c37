CREATE TABLE "audit_events" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "audit_events_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"occurred_at" timestamp with time zone DEFAULT now() NOT NULL,
	"action" varchar(64) NOT NULL,
	"outcome" varchar(16) DEFAULT 'success' NOT NULL,
	"actor_id" uuid,
	"target_user_id" uuid,
	"ip" varchar(64),
	"user_agent" varchar(512),
	"request_id" varchar(128),
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL,
	CONSTRAINT "audit_events_outcome_check" CHECK ("audit_events"."outcome" in ('success', 'failure')),
	CONSTRAINT "audit_events_details_size_check" CHECK (jsonb_typeof(details) = 'object' and octet_length(details::text) <= 4096)
);
--> statement-breakpoint
ALTER TABLE "audit_events" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE INDEX "audit_events_target_idx" ON "audit_events" USING btree ("target_user_id","id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "audit_events_actor_idx" ON "audit_events" USING btree ("actor_id","id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "audit_events_action_idx" ON "audit_events" USING btree ("action","id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "audit_events_occurred_idx" ON "audit_events" USING btree ("occurred_at");--> statement-breakpoint
CREATE POLICY "audit_events_read" ON "audit_events" AS PERMISSIVE FOR SELECT TO public USING ("audit_events"."target_user_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "audit_events_insert" ON "audit_events" AS PERMISSIVE FOR INSERT TO public WITH CHECK ("audit_events"."actor_id" is not distinct from nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "audit_events_delete" ON "audit_events" AS PERMISSIVE FOR DELETE TO public USING (current_setting('app.role', true) = 'system');--> statement-breakpoint
ALTER TABLE "audit_events" FORCE ROW LEVEL SECURITY;
