CREATE TABLE "document_content" (
	"document_id" uuid NOT NULL,
	"version" integer NOT NULL,
	"text" text NOT NULL,
	"truncated" boolean DEFAULT false NOT NULL,
	"extracted_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "document_content_document_id_version_pk" PRIMARY KEY("document_id","version")
);
--> statement-breakpoint
ALTER TABLE "document_content" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "document_shares" (
	"document_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"access" varchar(10) NOT NULL,
	"granted_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "document_shares_document_id_user_id_pk" PRIMARY KEY("document_id","user_id"),
	CONSTRAINT "document_shares_access_check" CHECK (access in ('read', 'write'))
);
--> statement-breakpoint
ALTER TABLE "document_shares" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "document_versions" (
	"document_id" uuid NOT NULL,
	"version" integer NOT NULL,
	"storage_key" text NOT NULL,
	"content_type" varchar(255) NOT NULL,
	"size_bytes" bigint NOT NULL,
	"sha256" char(64) NOT NULL,
	"filename" varchar(255),
	"created_by" uuid,
	"restored_from" integer,
	"status" text DEFAULT 'pending' NOT NULL,
	"failure_reason" text,
	"scan_result" text,
	"thumbnail_key" text,
	"processed_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "document_versions_document_id_version_pk" PRIMARY KEY("document_id","version"),
	CONSTRAINT "document_versions_status_check" CHECK (status in ('pending', 'scanning', 'processing', 'ready', 'quarantined', 'failed')),
	CONSTRAINT "document_versions_scan_result_check" CHECK (scan_result in ('clean', 'infected', 'skipped'))
);
--> statement-breakpoint
ALTER TABLE "document_versions" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "upload_intents" (
	"storage_key" text PRIMARY KEY NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "upload_intents" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "notifications" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid NOT NULL,
	"type" varchar(64) NOT NULL,
	"title" varchar(255) NOT NULL,
	"body" text NOT NULL,
	"data" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"event_id" uuid NOT NULL,
	"read_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "notifications" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "webhook_deliveries" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"webhook_id" uuid NOT NULL,
	"notification_id" uuid NOT NULL,
	"status" varchar(16) DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"response_status" integer,
	"last_error" text,
	"delivered_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "webhook_deliveries_status_check" CHECK (status in ('pending', 'delivered', 'failed'))
);
--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "webhooks" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid NOT NULL,
	"url" varchar(2048) NOT NULL,
	"secret_ciphertext" varchar(512) NOT NULL,
	"events" text[] DEFAULT '{}' NOT NULL,
	"active" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "webhooks" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "documents" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
DROP INDEX "documents_owner_created_idx";--> statement-breakpoint
ALTER TABLE "documents" ALTER COLUMN "owner_id" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "documents" ADD COLUMN "tags" text[] DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE "documents" ADD COLUMN "current_version" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "documents" ADD COLUMN "scan_result" text;--> statement-breakpoint
ALTER TABLE "documents" ADD COLUMN "deleted_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "document_content" ADD CONSTRAINT "document_content_document_id_documents_id_fk" FOREIGN KEY ("document_id") REFERENCES "public"."documents"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "document_shares" ADD CONSTRAINT "document_shares_document_id_documents_id_fk" FOREIGN KEY ("document_id") REFERENCES "public"."documents"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "document_shares" ADD CONSTRAINT "document_shares_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "document_shares" ADD CONSTRAINT "document_shares_granted_by_users_id_fk" FOREIGN KEY ("granted_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "document_versions" ADD CONSTRAINT "document_versions_document_id_documents_id_fk" FOREIGN KEY ("document_id") REFERENCES "public"."documents"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "document_versions" ADD CONSTRAINT "document_versions_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "notifications" ADD CONSTRAINT "notifications_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_webhook_id_webhooks_id_fk" FOREIGN KEY ("webhook_id") REFERENCES "public"."webhooks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_notification_id_notifications_id_fk" FOREIGN KEY ("notification_id") REFERENCES "public"."notifications"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhooks" ADD CONSTRAINT "webhooks_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "document_shares_user_idx" ON "document_shares" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "document_versions_status_idx" ON "document_versions" USING btree ("status","updated_at");--> statement-breakpoint
CREATE INDEX "notifications_user_created_idx" ON "notifications" USING btree ("user_id","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE UNIQUE INDEX "notifications_event_user_key" ON "notifications" USING btree ("event_id","user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "webhook_deliveries_once_key" ON "webhook_deliveries" USING btree ("webhook_id","notification_id");--> statement-breakpoint
CREATE INDEX "webhooks_user_idx" ON "webhooks" USING btree ("user_id");--> statement-breakpoint
ALTER TABLE "documents" ADD CONSTRAINT "documents_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "documents_created_idx" ON "documents" USING btree ("created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "documents_tags_idx" ON "documents" USING gin ("tags");--> statement-breakpoint
CREATE INDEX "documents_owner_created_idx" ON "documents" USING btree ("owner_id","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
ALTER TABLE "documents" DROP COLUMN "storage_key";--> statement-breakpoint
ALTER TABLE "documents" ADD CONSTRAINT "documents_scan_result_check" CHECK (scan_result in ('clean', 'infected', 'skipped'));--> statement-breakpoint
CREATE POLICY "documents_read" ON "documents" AS PERMISSIVE FOR SELECT TO public USING ("documents"."owner_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system') or 'documents:read' = any(string_to_array(current_setting('app.permissions', true), ',')) or exists (select 1 from document_shares s where s.document_id = documents.id and s.user_id = nullif(current_setting('app.user_id', true), '')::uuid));--> statement-breakpoint
CREATE POLICY "documents_insert" ON "documents" AS PERMISSIVE FOR INSERT TO public WITH CHECK ("documents"."owner_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "documents_update" ON "documents" AS PERMISSIVE FOR UPDATE TO public USING ("documents"."owner_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system') or exists (select 1 from document_shares s where s.document_id = documents.id and s.user_id = nullif(current_setting('app.user_id', true), '')::uuid and s.access = 'write')) WITH CHECK ("documents"."owner_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system') or exists (select 1 from document_shares s where s.document_id = documents.id and s.user_id = nullif(current_setting('app.user_id', true), '')::uuid and s.access = 'write'));--> statement-breakpoint
CREATE POLICY "documents_delete" ON "documents" AS PERMISSIVE FOR DELETE TO public USING ("documents"."owner_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "document_content_read" ON "document_content" AS PERMISSIVE FOR SELECT TO public USING (exists (select 1 from documents d where d.id = document_id));--> statement-breakpoint
CREATE POLICY "document_content_write" ON "document_content" AS PERMISSIVE FOR ALL TO public USING (current_setting('app.role', true) in ('admin', 'system')) WITH CHECK (current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "document_shares_read" ON "document_shares" AS PERMISSIVE FOR SELECT TO public USING ("document_shares"."user_id" = nullif(current_setting('app.user_id', true), '')::uuid or "document_shares"."granted_by" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "document_shares_insert" ON "document_shares" AS PERMISSIVE FOR INSERT TO public WITH CHECK (current_setting('app.role', true) in ('admin', 'system') or ("document_shares"."granted_by" = nullif(current_setting('app.user_id', true), '')::uuid and exists (select 1 from documents d where d.id = "document_shares"."document_id" and d.owner_id = nullif(current_setting('app.user_id', true), '')::uuid)));--> statement-breakpoint
CREATE POLICY "document_shares_delete" ON "document_shares" AS PERMISSIVE FOR DELETE TO public USING ("document_shares"."granted_by" = nullif(current_setting('app.user_id', true), '')::uuid or "document_shares"."user_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "document_versions_read" ON "document_versions" AS PERMISSIVE FOR SELECT TO public USING (exists (select 1 from documents d where d.id = document_id));--> statement-breakpoint
CREATE POLICY "document_versions_write" ON "document_versions" AS PERMISSIVE FOR ALL TO public USING (exists (select 1 from documents d where d.id = document_id and (d.owner_id = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system') or exists (select 1 from document_shares s where s.document_id = d.id and s.user_id = nullif(current_setting('app.user_id', true), '')::uuid and s.access = 'write')))) WITH CHECK (exists (select 1 from documents d where d.id = document_id and (d.owner_id = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system') or exists (select 1 from document_shares s where s.document_id = d.id and s.user_id = nullif(current_setting('app.user_id', true), '')::uuid and s.access = 'write'))));--> statement-breakpoint
CREATE POLICY "upload_intents_system" ON "upload_intents" AS PERMISSIVE FOR ALL TO public USING (current_setting('app.role', true) in ('admin', 'system')) WITH CHECK (current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "notifications_read" ON "notifications" AS PERMISSIVE FOR SELECT TO public USING ("notifications"."user_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "notifications_update" ON "notifications" AS PERMISSIVE FOR UPDATE TO public USING ("notifications"."user_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system')) WITH CHECK ("notifications"."user_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "notifications_insert" ON "notifications" AS PERMISSIVE FOR INSERT TO public WITH CHECK (current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "notifications_delete" ON "notifications" AS PERMISSIVE FOR DELETE TO public USING ("notifications"."user_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "webhook_deliveries_read" ON "webhook_deliveries" AS PERMISSIVE FOR SELECT TO public USING (current_setting('app.role', true) in ('admin', 'system') or exists (select 1 from webhooks w where w.id = "webhook_deliveries"."webhook_id"));--> statement-breakpoint
CREATE POLICY "webhook_deliveries_write" ON "webhook_deliveries" AS PERMISSIVE FOR ALL TO public USING (current_setting('app.role', true) in ('admin', 'system')) WITH CHECK (current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "webhooks_owner_or_staff" ON "webhooks" AS PERMISSIVE FOR ALL TO public USING ("webhooks"."user_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system')) WITH CHECK ("webhooks"."user_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system'));